//! Column alignment with Go's `text/tabwriter` semantics, configured as Podman configures it
//! (`minwidth 12, tabwidth 2, padding 2, padchar ' ', flags 0`).
//!
//! The input is text whose cells end with `\t`. The text after a line's last tab is not part of
//! any column: it is printed as is and does not widen the column above it. A column is aligned
//! over a *block* of consecutive lines that all have a tab-terminated cell in it, so a line
//! with fewer cells (a blank line, a message) ends the blocks of the columns it lacks, exactly
//! as in Go. Widths count characters (Go counts runes), not terminal cells.

/// A tabwriter configuration; see [`TabWriter::PODMAN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabWriter {
    /// The minimal width of a column, padding included.
    pub minwidth: usize,
    /// Added to the widest cell of a column.
    pub padding: usize,
}

impl TabWriter {
    /// `tabwriter.NewWriter(w, 12, 2, 2, ' ', 0)`, the `report` package's writer. With spaces as
    /// the padding character Go ignores the tab width.
    pub const PODMAN: TabWriter = TabWriter {
        minwidth: 12,
        padding: 2,
    };

    /// Aligns the whole of `text` (what Go prints after the final `Flush`).
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = split_lines(text);
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    /// Go's `format`: finds the blocks of column `widths.len()` within `lines[start..end]`,
    /// sizes each, recurses for the next column, and writes lines outside any block.
    fn format_block(
        &self,
        lines: &[Vec<&str>],
        start: usize,
        end: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut line0 = start;
        let mut this = start;
        while this < end {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // `this` starts a block of lines having a tab-terminated cell in `column`.
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < end && column + 1 < lines[this].len() {
                width = width.max(cell_width(lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, end, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        start: usize,
        end: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if let Some(&width) = widths.get(j) {
                    let pad = width.saturating_sub(cell_width(cell));
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            // The last line of the text had no newline (or is the empty rest after one).
            if i + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
}

/// Podman's table alignment of `text`; see [`TabWriter::PODMAN`].
pub fn align(text: &str) -> String {
    TabWriter::PODMAN.format(text)
}

/// Lines split at `\n`, cells at `\t`; the last cell of a line is the text after its last tab.
fn split_lines(text: &str) -> Vec<Vec<&str>> {
    text.split('\n')
        .map(|line| line.split('\t').collect())
        .collect()
}

fn cell_width(cell: &str) -> usize {
    cell.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_images_table() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n\
                    docker.io/library/alpine\tlatest\tc059bfaa849c\t2 weeks ago\t5.87 MB\n";
        let want = "REPOSITORY                TAG         IMAGE ID      CREATED      SIZE\n\
                    docker.io/library/alpine  latest      c059bfaa849c  2 weeks ago  5.87 MB\n";
        assert_eq!(align(text), want);
    }

    #[test]
    fn podman_history_table() {
        let text = "ID\tCREATED\tCREATED BY\tSIZE\tCOMMENT\n\
                    c059bfaa849c\t2 weeks ago\t/bin/sh -c #(nop)  CMD [\"/bin/sh\"]\t0B\t\n\
                    <missing>\t2 weeks ago\t/bin/sh -c #(nop) ADD file:9233f6f2237d79659a...\t5.87MB\t\n";
        // CREATED BY is 48 characters wide at most, plus 2 of padding.
        let want = "ID            CREATED      CREATED BY                                        SIZE        COMMENT\n\
                    c059bfaa849c  2 weeks ago  /bin/sh -c #(nop)  CMD [\"/bin/sh\"]                0B          \n\
                    <missing>     2 weeks ago  /bin/sh -c #(nop) ADD file:9233f6f2237d79659a...  5.87MB      \n";
        assert_eq!(align(text), want);
    }

    #[test]
    fn trailing_cell_is_not_a_column() {
        // The long text after the last tab does not widen the first column.
        let text = "a\tb\nccc\tthis is a long trailing cell\n";
        let want = "a           b\nccc         this is a long trailing cell\n";
        assert_eq!(align(text), want);
    }

    #[test]
    fn a_line_without_the_column_ends_the_block() {
        // Go aligns each block of consecutive lines separately.
        let text = "a\tb\nno tabs here\nlong-first-cell-xx\tb\n";
        let want = "a           b\nno tabs here\nlong-first-cell-xx  b\n";
        assert_eq!(align(text), want);
    }

    #[test]
    fn empty_cells_are_padded_and_text_without_newline_kept() {
        let text = "\tx\t\ny\t\tz";
        let want = "            x           \ny                       z";
        assert_eq!(align(text), want);
    }

    #[test]
    fn widths_count_characters() {
        let text = "äöü\tx\nabcdefghijklm\ty\n";
        let want = "äöü            x\nabcdefghijklm  y\n";
        assert_eq!(align(text), want);
    }

    #[test]
    fn empty_text() {
        assert_eq!(align(""), "");
        assert_eq!(align("\n"), "\n");
    }
}
