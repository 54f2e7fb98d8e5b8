complete --keep-order --exclusive --command coracle --arguments "(COMPLETE=fish coracle -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
