//! The server's own cryptography: exports sealed before they reach the store ([`seal`]),
//! and the signed tokens of preference and unsubscribe links ([`token`]).

pub mod seal;
pub mod token;
