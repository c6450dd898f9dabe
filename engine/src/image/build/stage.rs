//! One stage of a build: FROM, then each step on the image the last one
//! made, from the cache when its key is there.

use super::dockerfile::{ArgDecl, Dockerfile, Expansion, Healthcheck, Kind, Stage, Step};
use super::expand::{expand, expand_quoted};
use super::{history_entry, short_id, Build, Built};
use crate::image::config_changes;
use crate::image::manifest::Image;
use crate::image::ImageError;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The stage's image so far.
pub struct StageState {
    /// None while a stage FROM scratch has no step yet.
    pub image: Option<Image>,
    /// The image's whole config (`config`, `rootfs`, `history`...).
    pub config: Value,
    /// The ARGs this stage declared, with their values (none when unset).
    pub args: BTreeMap<String, Option<String>>,
}

impl StageState {
    /// The config's `config` object.
    pub fn settings(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.config
            .get("config")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    fn strings(&self, key: &str) -> Option<Vec<String>> {
        serde_json::from_value(self.settings().get(key)?.clone()).ok()
    }

    pub fn env(&self) -> Vec<String> {
        self.strings("Env").unwrap_or_default()
    }

    /// A variable as the Dockerfile sees it: ENV over ARG.
    pub fn var(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.env()
            .iter()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
            .or_else(|| self.args.get(name).cloned().flatten())
    }

    pub fn expand(&self, text: &str) -> String {
        expand(text, &|name| self.var(name))
    }

    pub fn workdir(&self) -> String {
        match self.settings().get("WorkingDir").and_then(Value::as_str) {
            Some(dir) if !dir.is_empty() => dir.to_string(),
            _ => "/".to_string(),
        }
    }

    pub fn user(&self) -> Option<String> {
        let user = self.settings().get("User").and_then(Value::as_str)?;
        (!user.is_empty()).then(|| user.to_string())
    }

    /// SHELL, or docker's default.
    pub fn shell(&self) -> Vec<String> {
        self.strings("Shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The ARG values a RUN sees as environment (those no ENV sets),
    /// as docker's classic builder passes them.
    pub fn run_args(&self) -> Vec<String> {
        let env = self.env();
        self.args
            .iter()
            .filter_map(|(name, value)| Some((name, value.as_ref()?)))
            .filter(|(name, _)| !env.iter().any(|e| e.starts_with(&format!("{name}="))))
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }

    /// The cache key of a step on this image: its parent, what it does,
    /// and what it reads.
    pub fn key(&self, what: &Value) -> String {
        let parent = match &self.image {
            Some(image) => image.manifest_digest.as_str().to_string(),
            None => "scratch".to_string(),
        };
        let text = json!([parent, what]).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The base image's ONBUILD triggers, which run now, before the
    /// stage's steps; they are not passed on to the images made here.
    pub fn take_triggers(&mut self) -> Vec<String> {
        let Some(settings) = self.config.get_mut("config").and_then(Value::as_object_mut) else {
            return Vec::new();
        };
        settings
            .remove("OnBuild")
            .and_then(|t| serde_json::from_value(t).ok())
            .unwrap_or_default()
    }

    /// A copy of the config with a history entry for `created_by`.
    pub fn next_config(&self, created_by: String, empty_layer: bool) -> Value {
        let mut config = self.config.clone();
        let entry = history_entry(created_by, empty_layer);
        match config.get_mut("history").and_then(Value::as_array_mut) {
            Some(history) => history.push(entry),
            None => config["history"] = json!([entry]),
        }
        config["created"] = json!(crate::time::rfc3339_now());
        config
    }
}

/// The `config` object of a whole config, made if missing.
pub fn settings_mut(config: &mut Value) -> &mut Map<String, Value> {
    if !config.get("config").is_some_and(Value::is_object) {
        config["config"] = json!({});
    }
    config["config"]
        .as_object_mut()
        .expect("made an object above")
}

/// A Go duration (`30s`, `1m30s`, `1.5s`, `500ms`, `0`) in nanoseconds,
/// as docker's config keeps HEALTHCHECK's times.
fn nanoseconds(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 30s, 1m30s, 1.5s, 500ms)");
    if text == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| bad())?;
        let unit_end = rest[number_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| number_end + i);
        let scale = match &rest[number_end..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Ok(total.round() as u64)
}

/// docker's `Healthcheck` config object.
fn healthcheck_config(check: Option<&Healthcheck>) -> Result<Value, String> {
    let Some(check) = check else {
        return Ok(json!({ "Test": ["NONE"] }));
    };
    let mut config = json!({ "Test": check.test });
    for (name, value) in &check.options {
        let field = match name.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let retries: u64 = value
                    .parse()
                    .map_err(|_| format!("--retries {value:?} is not a number"))?;
                config["Retries"] = json!(retries);
                continue;
            }
            other => return Err(format!("HEALTHCHECK has no option --{other}")),
        };
        config[field] = json!(nanoseconds(value)?);
    }
    Ok(config)
}

impl Build<'_> {
    /// The value of each global ARG: a build arg, or its default.
    fn global_args(&self, file: &Dockerfile) -> BTreeMap<String, Option<String>> {
        let mut values = BTreeMap::new();
        for decl in &file.global_args {
            let default = decl
                .default
                .as_ref()
                .map(|d| expand(d, &|n| values.get(n).cloned().flatten()));
            let value = self.options.build_args.get(&decl.name).cloned().or(default);
            values.insert(decl.name.clone(), value);
        }
        values
    }

    /// Builds `stage`; what it made.
    pub(super) async fn stage(&mut self, file: &Dockerfile, stage: &Stage) -> crate::Result<Built> {
        let globals = self.global_args(file);
        for name in globals.keys() {
            self.used_args.insert(name.clone());
        }
        let from = expand(&stage.from, &|name| globals.get(name).cloned().flatten());
        self.begin_step(&stage.from_text);
        let base = self.base(&from).await?;
        if let Some(image) = &base.image {
            self.say(format!(" ---> {}\n", short_id(&image.config_digest)));
        }
        let mut state = StageState {
            image: base.image,
            config: base.config,
            args: BTreeMap::new(),
        };
        let triggers = state.take_triggers();
        if !triggers.is_empty() {
            self.say(format!("# Executing {} build triggers\n", triggers.len()));
        }
        for trigger in &triggers {
            let step = super::dockerfile::parse_trigger(trigger)?;
            self.say(format!("Trigger: {}\n", step.text));
            self.apply(&mut state, &step, &globals).await?;
        }
        for step in &stage.steps {
            self.begin_step(&step.text);
            self.apply(&mut state, step, &globals).await?;
        }
        Ok(Built {
            image: state.image,
            config: state.config,
        })
    }

    /// Runs `step` and makes its image the stage's.
    async fn apply(
        &mut self,
        state: &mut StageState,
        step: &Step,
        globals: &BTreeMap<String, Option<String>>,
    ) -> crate::Result<()> {
        let image = self.step(state, step, globals).await?;
        state.config = image.raw_config(&self.store)?;
        self.say(format!(" ---> {}\n", short_id(&image.config_digest)));
        state.image = Some(image);
        Ok(())
    }

    /// Runs one step on `state`'s image; the image it made.
    async fn step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        globals: &BTreeMap<String, Option<String>>,
    ) -> crate::Result<Image> {
        let bad = |why: String| ImageError::Invalid(format!("{}: {why}", step.text));
        let mut config = state.next_config(format!("/bin/sh -c #(nop)  {}", step.text), true);
        let what = match &step.kind {
            Kind::Run(command) => return self.run_step(state, command).await,
            Kind::Copy(spec) => return self.copy_step(state, spec, &step.text).await,
            Kind::Arg(decls) => {
                let values = self.declare_args(state, decls, globals);
                json!(["ARG", values])
            }
            Kind::Workdir(dir) => {
                let dir = super::context::absolute(&state.workdir(), &state.expand(dir));
                settings_mut(&mut config).insert("WorkingDir".into(), json!(dir));
                json!(["WORKDIR", dir])
            }
            Kind::Shell(words) => {
                if words.is_empty() {
                    return Err(bad(
                        "SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]".into()
                    )
                    .into());
                }
                settings_mut(&mut config).insert("Shell".into(), json!(words));
                json!(["SHELL", words])
            }
            Kind::Healthcheck(check) => {
                let check = healthcheck_config(check.as_ref()).map_err(bad)?;
                settings_mut(&mut config).insert("Healthcheck".into(), check.clone());
                json!(["HEALTHCHECK", check])
            }
            Kind::Onbuild(trigger) => {
                let settings = settings_mut(&mut config);
                let triggers = settings.entry("OnBuild").or_insert_with(|| json!([]));
                if !triggers.is_array() {
                    *triggers = json!([]);
                }
                triggers
                    .as_array_mut()
                    .expect("an array")
                    .push(json!(trigger));
                json!(["ONBUILD", trigger])
            }
            Kind::Maintainer(name) => {
                let name = state.expand(name);
                config["author"] = json!(name);
                json!(["MAINTAINER", name])
            }
            Kind::Config { expand } => {
                let text = match expand {
                    Expansion::None => step.text.clone(),
                    Expansion::Plain => state.expand(&step.text),
                    Expansion::Pairs => expand_quoted(&step.text, &|name| state.var(name)),
                };
                config_changes::apply(settings_mut(&mut config), &text)?;
                json!(["CONFIG", text])
            }
        };
        let key = state.key(&what);
        if let Some(image) = self.cached(&key)? {
            self.say(" ---> Using cache\n".into());
            return Ok(image);
        }
        self.store_config_step(state, &config, &key).await
    }

    /// Declares `decls` in the stage; their values, for the cache key.
    fn declare_args(
        &mut self,
        state: &mut StageState,
        decls: &[ArgDecl],
        globals: &BTreeMap<String, Option<String>>,
    ) -> Vec<String> {
        let mut values = Vec::new();
        for decl in decls {
            self.used_args.insert(decl.name.clone());
            let value = match self.options.build_args.get(&decl.name) {
                Some(given) => Some(given.clone()),
                None => match &decl.default {
                    Some(default) => Some(state.expand(default)),
                    None => globals.get(&decl.name).cloned().flatten(),
                },
            };
            values.push(format!(
                "{}={}",
                decl.name,
                value.clone().unwrap_or_default()
            ));
            state.args.insert(decl.name.clone(), value);
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_times_are_kept_as_docker_does() {
        assert_eq!(nanoseconds("1m30s"), Ok(90_000_000_000));
        assert_eq!(nanoseconds("500ms"), Ok(500_000_000));
        assert_eq!(nanoseconds("1.5s"), Ok(1_500_000_000));
        assert_eq!(nanoseconds("0"), Ok(0));
        assert!(nanoseconds("soon").is_err());
        let check = Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            options: vec![
                ("interval".into(), "5s".into()),
                ("retries".into(), "3".into()),
            ],
        };
        assert_eq!(
            healthcheck_config(Some(&check)).unwrap(),
            json!({ "Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64, "Retries": 3 })
        );
        assert_eq!(
            healthcheck_config(None).unwrap(),
            json!({ "Test": ["NONE"] })
        );
    }
}
