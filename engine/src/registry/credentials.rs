//! Registry credentials, kept as docker keeps them: `{"auths": {server:
//! {"auth": base64("user:password")}}}` in `$HUTCH_HOME/config.json`
//! (mode 0600). Like podman, hutch also reads docker's own config
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), so a
//! `docker login` done earlier works too; hutch only ever writes its own.

use super::error::RegistryError;
use crate::home::{ensure_dir, replace_file, Home};
use crate::image::reference::DEFAULT_REGISTRY;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, RegistryError>;

/// Docker stores Docker Hub under its v1 index URL; hutch writes the same key.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.username)
    }
}

/// The registry a config key names: `https://index.docker.io/v1/` and
/// `registry-1.docker.io` are both Docker Hub; schemes and paths are dropped.
pub fn registry_of_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DEFAULT_REGISTRY.to_string()
        }
        other => other.to_string(),
    }
}

fn key_for(registry: &str) -> String {
    if registry == DEFAULT_REGISTRY {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn docker_config() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

fn read_config(path: &Path) -> Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(RegistryError::BadConfig {
                path: path.to_path_buf(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(RegistryError::Config {
            what: format!("reading {}", path.display()),
            source,
        }),
    }
}

fn decode(entry: &Value) -> Option<Credentials> {
    let auth = BASE64.decode(entry.get("auth")?.as_str()?).ok()?;
    let (username, password) = std::str::from_utf8(&auth).ok()?.split_once(':')?;
    Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

fn find_in(config: &Map<String, Value>, registry: &str) -> Option<Credentials> {
    config
        .get("auths")?
        .as_object()?
        .iter()
        .filter(|(key, _)| registry_of_key(key) == registry)
        .find_map(|(_, entry)| decode(entry))
}

/// The credentials for `registry`: hutch's own first, then docker's.
pub fn lookup(home: &Home, registry: &str) -> Result<Option<Credentials>> {
    if let Some(found) = find_in(&read_config(&home.config_json())?, registry) {
        return Ok(Some(found));
    }
    // Docker's file is a fallback only: an unreadable one is not our error.
    Ok(docker_config()
        .and_then(|path| read_config(&path).ok())
        .and_then(|config| find_in(&config, registry)))
}

fn update(home: &Home, change: impl FnOnce(&mut Map<String, Value>) -> bool) -> Result<bool> {
    let path = home.config_json();
    let mut config = read_config(&path)?;
    let mut auths = match config.remove("auths") {
        Some(Value::Object(auths)) => auths,
        _ => Map::new(),
    };
    let changed = change(&mut auths);
    config.insert("auths".into(), Value::Object(auths));
    if changed {
        if let Some(dir) = path.parent() {
            ensure_dir(dir)?;
        }
        let text = format!("{:#}", Value::Object(config));
        replace_file(&path, text.as_bytes(), 0o600).map_err(|source| RegistryError::Config {
            what: format!("writing {}", path.display()),
            source,
        })?;
    }
    Ok(changed)
}

/// Saves credentials for `registry`, replacing any it had.
pub fn save(home: &Home, registry: &str, credentials: &Credentials) -> Result<()> {
    let auth = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
    update(home, |auths| {
        auths.retain(|key, _| registry_of_key(key) != registry);
        auths.insert(key_for(registry), json!({ "auth": auth }));
        true
    })
    .map(|_| ())
}

/// Forgets `registry`'s credentials; false if hutch had none.
pub fn remove(home: &Home, registry: &str) -> Result<bool> {
    update(home, |auths| {
        let before = auths.len();
        auths.retain(|key, _| registry_of_key(key) != registry);
        auths.len() != before
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_keys_all_mean_docker_io() {
        for key in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "registry-1.docker.io",
        ] {
            assert_eq!(registry_of_key(key), "docker.io", "{key}");
        }
        assert_eq!(
            registry_of_key("http://localhost:5000/v2/"),
            "localhost:5000"
        );
        assert_eq!(key_for("docker.io"), DOCKER_HUB_KEY);
    }

    #[test]
    fn entries_decode_and_bad_ones_are_skipped() {
        let config: Map<String, Value> = serde_json::from_value(json!({"auths": {
            "bad.example": {"auth": "not base64!"},
            "quay.io": {"auth": BASE64.encode("me:pa:ss")},
            "https://index.docker.io/v1/": {"auth": BASE64.encode("hub:pw")},
        }}))
        .unwrap();
        let quay = find_in(&config, "quay.io").unwrap();
        assert_eq!(
            (quay.username.as_str(), quay.password.as_str()),
            ("me", "pa:ss")
        );
        assert_eq!(find_in(&config, "docker.io").unwrap().username, "hub");
        assert!(find_in(&config, "bad.example").is_none());
        assert!(find_in(&config, "ghcr.io").is_none());
    }
}
