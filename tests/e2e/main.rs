//! The end-to-end tests, one binary: the real `bbship` binary (and, where a test needs
//! it, the library) against the fake APIs of `bbship-fake`, one module per area, all
//! sharing `support`.

mod accept;
mod bench;
mod cli;
mod fake;
mod hostile;
mod journal;
mod label;
mod operator;
mod reliability;
mod security;
mod ship;
mod status;
mod support;
