//! The pure core of Pledge: the declaration model and its parser, the data category taxonomy,
//! the lint rules and the renderers of their findings, the privacy notice and the record of
//! processing.
//!
//! Architecture invariant: nothing in this crate touches files, the network or the clock.
//! Callers hand it text (a [`SourceMap`]) and, where time matters, the current time as a
//! value. It therefore cannot fail on the outside world, and every function is testable as
//! data in, data out.

pub mod archive;
pub mod banner;
pub mod checkpoint;
pub mod consent;
mod countries;
pub mod cron;
pub mod csv;
pub mod de;
pub mod diagnostic;
pub mod export;
pub mod html;
pub mod law;
pub mod lint;
pub mod load;
pub mod merkle;
pub mod model;
pub mod node;
pub mod notice;
pub mod people;
pub mod plan;
pub mod report;
pub mod retry;
pub mod ropa;
pub mod schema;
pub mod source;
pub mod taxonomy;
pub mod types;
pub mod workflow;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{Declaration, load};
pub use source::{SourceFile, SourceMap, Span, Spanned};
