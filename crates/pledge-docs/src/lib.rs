//! The documents Pledge writes from a declaration and from what a request found: the
//! privacy notice and its diff ([`notice`]), the record of processing activities
//! ([`ropa`]), a person's export ([`export`]) in its archive ([`archive`], with [`csv`]),
//! the cookie banner's configuration ([`banner`]), and the ownership map's renderings
//! ([`map`]). Templates are embedded here, and only here.
//!
//! Pure: no I/O, no clock (the pure core's invariant, see `pledge-lang`).

pub mod archive;
pub mod banner;
pub mod csv;
pub mod export;
pub mod html;
pub mod map;
pub mod notice;
pub mod ropa;
