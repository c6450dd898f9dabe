//! Image references as docker spells them: `alpine` is
//! `docker.io/library/alpine:latest`, `localhost:5000/app:v2` keeps its
//! registry. Stored in full; shown short, as `docker images` does. Front
//! ends parse what the user typed once, into a [`Reference`] or an
//! [`ImageName`], and hand the engine those.

use std::str::FromStr;

pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` for `name@sha256:...`: the exact manifest, no tag.
    pub digest: Option<String>,
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by single '.', '_', '__' or '-' runs
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Why a string is not an image reference, and how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReferenceError(String);

macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err(ReferenceError(format!($($arg)*)))
    };
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let (input, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                let hex = digest.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    refuse!(
                        "invalid digest in {input:?}: use name@sha256:<64 lowercase hex digits>"
                    );
                }
                (name, Some(digest.to_string()))
            }
            None => (input, None),
        };
        let (name, tag) = match input.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t),
            _ => (input, DEFAULT_TAG),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if !repository.split('/').all(valid_component) {
            refuse!("invalid image name {input:?}: use lowercase letters, digits and . _ - separated by /");
        }
        if !valid_tag(tag) {
            refuse!("invalid tag in {input:?}: use up to 128 letters, digits, '.', '_' or '-'");
        }
        Ok(Reference {
            registry,
            repository,
            tag: tag.to_string(),
            digest,
        })
    }

    /// The full form the store keys on.
    pub fn full(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}/{}@{d}", self.registry, self.repository),
            None => format!("{}/{}:{}", self.registry, self.repository, self.tag),
        }
    }

    /// `repository:tag` (or `repository@digest`) as docker shows it.
    pub fn short(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.short_repository()),
            None => format!("{}:{}", self.short_repository(), self.tag),
        }
    }

    /// The tag column of `docker images`: `<none>` for a digest reference.
    pub fn shown_tag(&self) -> &str {
        match self.digest {
            Some(_) => "<none>",
            None => &self.tag,
        }
    }

    /// The repository as `docker images` shows it.
    pub fn short_repository(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

impl std::fmt::Display for Reference {
    /// The short form, as docker shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short())
    }
}

/// How a user names an image they have: by reference, or by a prefix of
/// its id (at least 4 hex digits, `sha256:` optional). Some names are both
/// (`abcd`); the reference is tried first, as docker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    text: String,
    reference: Option<Reference>,
    id_prefix: Option<String>,
}

impl ImageName {
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    pub fn id_prefix(&self) -> Option<&str> {
        self.id_prefix.as_deref()
    }

    /// As the user typed it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ImageName {
    type Err = ReferenceError;
    fn from_str(text: &str) -> Result<ImageName, ReferenceError> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let id_prefix = (hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase());
        let reference = Reference::parse(text);
        match (reference, id_prefix) {
            (Err(e), None) => Err(e),
            (reference, id_prefix) => Ok(ImageName {
                text: text.to_string(),
                reference: reference.ok(),
                id_prefix,
            }),
        }
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_are_normalised() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.full(), "docker.io/library/alpine:latest");
        assert_eq!(r.short_repository(), "alpine");
        assert_eq!(
            Reference::parse(&r.full()).unwrap(),
            r,
            "the full form parses back"
        );
        assert_eq!(r.short(), "alpine:latest");
        let r = Reference::parse("user/app:1.2").unwrap();
        assert_eq!(r.full(), "docker.io/user/app:1.2");
        assert_eq!(r.short_repository(), "user/app");
    }

    #[test]
    fn digest_references_name_one_manifest() {
        let hex = "a".repeat(64);
        let r = Reference::parse(&format!("localhost:5000/app@sha256:{hex}")).unwrap();
        assert_eq!(r.full(), format!("localhost:5000/app@sha256:{hex}"));
        assert_eq!(Reference::parse(&r.full()).unwrap(), r);
        assert_eq!(r.shown_tag(), "<none>");
        assert!(Reference::parse("app@sha256:abc").is_err());
        assert!(Reference::parse(&format!("app@md5:{hex}")).is_err());
    }

    #[test]
    fn registries_with_ports_and_localhost_are_kept() {
        let r = Reference::parse("localhost:5000/app:v2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000", "app", "v2")
        );
        assert_eq!(r.short_repository(), "localhost:5000/app");
        assert_eq!(
            Reference::parse("localhost/x").unwrap().full(),
            "localhost/x:latest"
        );
        assert_eq!(Reference::parse("quay.io/a/b").unwrap().tag, "latest");
    }

    #[test]
    fn image_names_are_references_ids_or_both() {
        let both: ImageName = "abcd".parse().unwrap();
        assert!(both.reference().is_some() && both.id_prefix() == Some("abcd"));
        let id: ImageName = "ABCDEF12".parse().unwrap();
        assert_eq!(
            (id.reference().is_some(), id.id_prefix()),
            (false, Some("abcdef12"))
        );
        let name: ImageName = "alpine:3".parse().unwrap();
        assert!(name.reference().is_some() && name.id_prefix().is_none());
        assert!("Not/Valid".parse::<ImageName>().is_err());
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["Alpine", "a//b", "-a", "a:", "a:-x", "a@sha256:00", ""] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
