//! Container names: docker's rules for given ones, docker's style
//! (`adjective_noun`) for made-up ones, and random ids.

pub(crate) fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

pub(crate) fn random_hex(n: usize) -> String {
    use crate::sys::random::random_bytes;
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// docker-style `adjective_noun` names.
pub(super) fn random_name() -> String {
    const ADJECTIVES: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty",
        "proud", "quiet", "sharp", "tender", "vivid", "witty",
    ];
    const NOUNS: [&str; 16] = [
        "badger", "beaver", "crane", "falcon", "ferret", "heron", "lynx", "marten", "otter", "owl",
        "puffin", "raven", "stoat", "swift", "vole", "wren",
    ];
    let r = crate::sys::random::random_bytes(3);
    format!(
        "{}_{}{}",
        ADJECTIVES[r[0] as usize % 16],
        NOUNS[r[1] as usize % 16],
        r[2] % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("web"));
        assert!(valid_name("a.b_c-1"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("w"));
        assert!(!valid_name("we b"));
        assert!(valid_name(&random_name()));
    }
}
