//! Dockerfile instructions that change an image's config without a
//! layer (docker's `commit --change`): CMD, ENTRYPOINT, ENV, EXPOSE,
//! LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR, parsed by
//! `parse-dockerfile` and applied to the config's `config` object.

use super::error::ImageError;
use parse_dockerfile::{Command, Instruction, JsonOrStringArray};
use serde_json::{json, Map, Value};

type Result<T> = std::result::Result<T, ImageError>;

const EXAMPLES: &str = "e.g. 'CMD [\"sh\"]', 'ENV KEY=value', 'EXPOSE 80/tcp'";

/// Applies instruction `change` to `config` (an image config's `config`
/// object).
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let bad = |why: String| ImageError::Invalid(format!("change {change:?}: {why} ({EXAMPLES})"));
    // The parser reads Dockerfiles, whose instructions follow a FROM.
    let text = format!("FROM scratch\n{change}");
    let mut instructions = parse_dockerfile::parse_iter(&text).map_err(|e| bad(e.to_string()))?;
    let _from = instructions.next();
    let instruction = match instructions.next() {
        Some(Ok(i)) => i,
        Some(Err(e)) => return Err(bad(e.to_string())),
        None => return Err(bad("no instruction".into())),
    };
    if instructions.next().is_some() {
        return Err(bad("one instruction per change".into()));
    }
    match instruction {
        Instruction::Cmd(i) => {
            config.insert("Cmd".into(), command(&i.arguments).map_err(bad)?);
        }
        Instruction::Entrypoint(i) => {
            config.insert("Entrypoint".into(), command(&i.arguments).map_err(bad)?);
        }
        Instruction::Env(i) => {
            let env = list(config, "Env");
            for (key, value) in pairs(&i.arguments.value, true).map_err(bad)? {
                env.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(&key));
                env.push(json!(format!("{key}={value}")));
            }
        }
        Instruction::Label(i) => {
            let labels = object(config, "Labels");
            for (key, value) in pairs(&i.arguments.value, false).map_err(bad)? {
                labels.insert(key, json!(value));
            }
        }
        Instruction::Expose(i) => {
            let ports = object(config, "ExposedPorts");
            for port in &i.arguments {
                let port = port.value.as_ref();
                let spec = match port.contains('/') {
                    true => port.to_string(),
                    false => format!("{port}/tcp"),
                };
                ports.insert(spec, json!({}));
            }
        }
        Instruction::Volume(i) => {
            let volumes = object(config, "Volumes");
            let paths = match &i.arguments {
                JsonOrStringArray::Json(array) => &array.value,
                JsonOrStringArray::String(words) => words,
            };
            for path in paths {
                volumes.insert(path.value.to_string(), json!({}));
            }
        }
        Instruction::User(i) => {
            config.insert("User".into(), json!(i.arguments.value));
        }
        Instruction::Workdir(i) => {
            config.insert("WorkingDir".into(), json!(i.arguments.value));
        }
        Instruction::Stopsignal(i) => {
            config.insert("StopSignal".into(), json!(i.arguments.value));
        }
        _ => {
            return Err(bad(
                "only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR change an image's config".into(),
            ))
        }
    }
    Ok(())
}

/// The exec form as given; the shell form run by `/bin/sh -c`.
fn command(arguments: &Command<'_>) -> std::result::Result<Value, String> {
    match arguments {
        Command::Exec(words) => Ok(json!(words
            .value
            .iter()
            .map(|w| &w.value)
            .collect::<Vec<_>>())),
        Command::Shell(text) => Ok(json!(["/bin/sh", "-c", text.value])),
        _ => Err("write the command in exec form (a JSON array) or shell form".into()),
    }
}

/// `KEY=value ...` pairs, quotes removed; with `legacy`, also ENV's old
/// `KEY value with spaces` form.
fn pairs(text: &str, legacy: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let words = shlex::split(text).ok_or("unbalanced quotes")?;
    let Some(first) = words.first() else {
        return Err("a KEY=value pair is needed".into());
    };
    if legacy && !first.contains('=') {
        return Ok(vec![(first.clone(), words[1..].join(" "))]);
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("{word:?} is not KEY=value")),
        })
        .collect()
}

fn list<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = config.entry(key).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    entry.as_array_mut().expect("made an array above")
}

/// `config[key]` as an object, made one if it is missing or is not.
pub(super) fn object<'a>(
    config: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let entry = config.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made an object above")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut config = json!({ "Env": ["PATH=/bin", "A=old"], "Cmd": ["sh"] });
        for change in changes {
            apply(config.as_object_mut().unwrap(), change).unwrap();
        }
        config
    }

    #[test]
    fn instructions_change_the_config_as_docker_does() {
        let config = applied(&[
            r#"CMD ["nginx", "-g", "daemon off;"]"#,
            "ENTRYPOINT echo hi",
            r#"ENV A=new B="two words""#,
            "ENV LEGACY has spaces",
            r#"LABEL version=1.0 "com.example.note"="a b""#,
            "EXPOSE 80 53/udp",
            "VOLUME /data /cache",
            "USER app:app",
            "WORKDIR /srv",
            "STOPSIGNAL SIGQUIT",
        ]);
        assert_eq!(config["Cmd"], json!(["nginx", "-g", "daemon off;"]));
        assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(
            config["Env"],
            json!(["PATH=/bin", "A=new", "B=two words", "LEGACY=has spaces"])
        );
        assert_eq!(
            config["Labels"],
            json!({ "version": "1.0", "com.example.note": "a b" })
        );
        assert_eq!(
            config["ExposedPorts"],
            json!({ "80/tcp": {}, "53/udp": {} })
        );
        assert_eq!(config["Volumes"], json!({ "/data": {}, "/cache": {} }));
        assert_eq!(config["User"], json!("app:app"));
        assert_eq!(config["WorkingDir"], json!("/srv"));
        assert_eq!(config["StopSignal"], json!("SIGQUIT"));
    }

    #[test]
    fn other_instructions_and_bad_text_are_refused_with_examples() {
        for bad in [
            "RUN make",
            "",
            "ENV",
            "LABEL nokey",
            "CMD [\"a\"]\nCMD b",
            "BOGUS x",
        ] {
            let mut config = Map::new();
            let err = apply(&mut config, bad).unwrap_err().to_string();
            assert!(err.contains("e.g. 'CMD"), "{bad:?}: {err}");
        }
    }
}
