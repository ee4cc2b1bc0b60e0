//! The rules of Pledge's own records: the request workflow and its legal deadlines
//! ([`workflow`]), the consent ledger's events and the decisions they add up to
//! ([`consent`]), the schedules of retention runs ([`cron`]), and the tamper evidence of the
//! logs ([`merkle`], [`checkpoint`]). The store keeps what this crate allows; the server
//! asks it before every change.
//!
//! Pure: no I/O, no clock (the pure core's invariant, see `pledge-lang`).

pub mod checkpoint;
pub mod consent;
pub mod cron;
pub mod merkle;
pub mod workflow;
