//! The declaration language of Pledge: a company's privacy promises as a file. Source text
//! and its spans ([`source`]), the node tree TOML and YAML are read into ([`node`]), the
//! deserializer that keeps every value's span and recovers from typos ([`de`]), the
//! identifiers, durations and other values parsed once ([`types`], [`time`], [`rights`],
//! [`taxonomy`]), the model of a declaration ([`model`]) and the one way to obtain a checked
//! one ([`load`]), the facts of the law its terms carry (each legal basis's article, who is
//! in the EEA: [`law`]), with its JSON Schema ([`schema`]) and the diagnostics it reports
//! ([`diagnostic`]).
//!
//! Architecture invariant: like every crate of the pure core (this one, `pledge-plan`,
//! `pledge-law`, `pledge-docs`, `pledge-domain`), nothing here touches files, the network or
//! the clock. Callers hand it text (a [`SourceMap`]) and, where time matters, the current
//! time as a value.

mod countries;
pub mod de;
pub mod diagnostic;
pub mod law;
pub mod load;
pub mod model;
pub mod node;
pub mod rights;
pub mod schema;
pub mod source;
pub mod taxonomy;
pub mod time;
pub mod types;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{Declaration, load};
pub use source::{SourceFile, SourceMap, Span, Spanned};
