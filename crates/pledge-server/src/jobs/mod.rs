//! The server's work in the background: the worker that runs requests against the
//! company's databases ([`worker`]), the scheduled tasks such as retention sweeps
//! ([`schedule`]), the mailer that sends what the outbox holds ([`mail`]), the forwarder
//! that tells recipients ([`forward`]), and the signer of checkpoints ([`checkpoints`]).
//! Each takes "now" from the state's clock and says whether a failure may pass.

pub mod checkpoints;
pub mod forward;
pub mod mail;
pub mod schedule;
pub mod worker;
