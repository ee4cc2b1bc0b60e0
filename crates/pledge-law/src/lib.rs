//! The law Pledge checks a declaration against: the lint rules that turn a declaration into
//! findings citing articles ([`lint`]), and the renderers of those findings for people and
//! tools ([`report`]). The facts of the statutes that rules and documents share (who is in
//! the EEA, each legal basis's article) are methods of the declaration's own terms, in
//! `pledge_lang::law`.
//!
//! Pure: no I/O, no clock (the pure core's invariant, see `pledge-lang`).

pub mod lint;
pub mod report;
