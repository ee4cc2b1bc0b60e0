//! Audit records for the links that let their holder act for a person: a preference-centre
//! or unsubscribe link changes that person's choices, so who made one, for whom, is kept.

use crate::{Result, Store};
use serde_json::json;

impl Store {
    /// Records that `actor` minted links of `kinds` (`preferences`, `unsubscribe`) for
    /// `subject`, the unsubscribe link covering `purposes`. The subject appears only as a
    /// SHA-256, as in every audit record.
    pub async fn record_links_minted(
        &self,
        subject: &str,
        kinds: &[&str],
        purposes: &[String],
        actor: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "consent.links_minted",
            None,
            json!({
                "subject_sha256": crate::audit::sha256_hex(subject.as_bytes()),
                "links": kinds,
                "purposes": purposes,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
