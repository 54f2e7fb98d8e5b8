//! Trust and client identity for one registry host: the system's roots, plus `*.crt` CAs and
//! `*.cert`/`*.key` client pairs from `--cert-dir` or the `certs.d/HOST` directories.
