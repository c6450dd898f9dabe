//! Image indexes (OCI index, docker manifest list) and choosing this
//! machine's platform from one.

use super::error::ImageError;
use super::store::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;

type Result<T> = std::result::Result<T, ImageError>;

/// The platform hutch's machines run (linux/arm64 on Apple silicon later).
const OS: &str = "linux";
const ARCHITECTURE: &str = "amd64";

#[derive(Deserialize)]
pub struct Index {
    pub manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
pub struct IndexEntry {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// Whether a manifest document is an index rather than an image manifest.
pub fn is_index(bytes: &[u8]) -> Result<bool> {
    let kind: Kind = serde_json::from_slice(bytes).map_err(|source| ImageError::Malformed {
        what: "the manifest".into(),
        source,
    })?;
    Ok(kind.manifests.is_some()
        || kind.media_type.contains("index")
        || kind.media_type.contains("manifest.list"))
}

impl Index {
    pub fn parse(bytes: &[u8]) -> Result<Index> {
        serde_json::from_slice(bytes).map_err(|source| ImageError::Malformed {
            what: "the image index".into(),
            source,
        })
    }

    /// The manifest for this machine's platform.
    pub fn for_machine(self) -> Result<Digest> {
        self.manifests
            .into_iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == OS && p.architecture == ARCHITECTURE)
            })
            .map(|m| m.digest)
            .ok_or(ImageError::NoPlatform {
                os: OS,
                architecture: ARCHITECTURE,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_linux_amd64_from_an_index() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let doc = serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                { "digest": d('a'), "platform": { "os": "linux", "architecture": "arm64" } },
                { "digest": d('b'), "platform": { "os": "linux", "architecture": "amd64" } },
            ],
        });
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert!(is_index(&bytes).unwrap());
        assert_eq!(
            Index::parse(&bytes)
                .unwrap()
                .for_machine()
                .unwrap()
                .as_str(),
            d('b')
        );
        let arm_only = serde_json::json!({ "manifests": [{ "digest": d('a'), "platform": { "os": "linux", "architecture": "arm64" } }] });
        let err = Index::parse(&serde_json::to_vec(&arm_only).unwrap())
            .unwrap()
            .for_machine()
            .unwrap_err();
        assert!(err.to_string().contains("no linux/amd64 variant"));
        assert!(!is_index(
            br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
        )
        .unwrap());
    }
}
