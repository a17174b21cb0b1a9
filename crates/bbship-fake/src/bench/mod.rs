//! The benchmark's scenarios, shared by the `bench` example and its smoke test: full
//! bbship cycles against this fake (`scenario`), and a real cycle's journal amplified to
//! many orders (`journal_scale`). Only this module drives bbship's library, so it sits
//! behind the `bench` feature and the fake itself depends on nothing of bbship.

pub mod journal_scale;
pub mod scenario;
