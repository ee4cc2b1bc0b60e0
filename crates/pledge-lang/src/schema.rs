//! The JSON Schema of the declaration format, generated from the model types.

use crate::model::DeclarationDoc;

/// The schema as pretty-printed JSON (draft 2020-12).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(DeclarationDoc);
    // Serializing a schema (a JSON value) cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
