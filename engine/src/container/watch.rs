//! Containers' lifecycle as docker's `events` tells it: the agent's
//! events, each with the container's name, image and labels (read once,
//! when the container is first seen, so that its destroy still has them)
//! and a die's exit code.

use super::inspect::labels;
use crate::agent::EventStream;
use crate::{Engine, Result};
use protocol::{ContainerAction, ContainerEvent};
use std::collections::{BTreeMap, HashMap};

/// One container event, stamped when it reached the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub time_ns: i64,
    pub action: ContainerAction,
    pub id: String,
    /// `name`, `image`, its labels, and `exitCode` for a die.
    pub attributes: BTreeMap<String, String>,
}

/// docker's label filter: `KEY` or `KEY=VALUE` among `labels`.
pub fn label_matches<'a>(
    mut labels: impl Iterator<Item = (&'a String, &'a String)>,
    wanted: &str,
) -> bool {
    match wanted.split_once('=') {
        Some((key, value)) => labels.any(|(k, v)| k == key && v == value),
        None => labels.any(|(k, _)| k == wanted),
    }
}

impl LifecycleEvent {
    /// docker's name for the action.
    pub fn action_name(&self) -> &'static str {
        match self.action {
            ContainerAction::Create => "create",
            ContainerAction::Start => "start",
            ContainerAction::Die => "die",
            ContainerAction::Destroy => "destroy",
        }
    }

    /// docker's event filters: every `label` asked for, and any one of
    /// the values of each other key (`type`, `event`, `container` by id
    /// prefix or name, `image`); an unknown key matches nothing.
    pub fn matches(&self, filters: &HashMap<String, Vec<String>>) -> bool {
        filters.iter().all(|(key, values)| match key.as_str() {
            "label" => values
                .iter()
                .all(|v| label_matches(self.attributes.iter(), v)),
            _ => values.iter().any(|v| match key.as_str() {
                "type" => v == "container",
                "event" => self.action_name() == v,
                "container" => {
                    self.id.starts_with(v.as_str()) || self.attributes.get("name") == Some(v)
                }
                "image" => self.attributes.get("image") == Some(v),
                _ => false,
            }),
        })
    }
}

/// A machine's container events, described.
pub struct ContainerWatch {
    engine: Engine,
    machine: String,
    stream: EventStream,
    /// Attributes of the containers seen, until their destroy.
    known: HashMap<String, BTreeMap<String, String>>,
}

impl ContainerWatch {
    /// The next event; an error once the machine is gone.
    pub async fn next(&mut self) -> Result<LifecycleEvent> {
        let event = self.stream.next().await?;
        Ok(self.describe(event).await)
    }

    async fn describe(&mut self, event: ContainerEvent) -> LifecycleEvent {
        // Stamped on arrival, before any inspection.
        let time_ns = crate::time::now_ms() as i64 * 1_000_000;
        let mut attributes = match self.known.get(&event.container) {
            Some(attributes) => attributes.clone(),
            None => match self
                .engine
                .inspect_container(&self.machine, &event.container)
                .await
            {
                Ok(details) => {
                    let mut attributes = labels(&details);
                    attributes.insert("name".into(), details.info.name.clone());
                    attributes.insert("image".into(), details.info.image.clone());
                    attributes
                }
                // Gone already (a --rm container's quick end).
                Err(_) => BTreeMap::new(),
            },
        };
        match event
            .exit_code
            .filter(|_| event.action == ContainerAction::Die)
        {
            Some(code) => attributes.insert("exitCode".into(), code.to_string()),
            None => attributes.remove("exitCode"),
        };
        match event.action {
            ContainerAction::Destroy => self.known.remove(&event.container),
            _ => self
                .known
                .insert(event.container.clone(), attributes.clone()),
        };
        LifecycleEvent {
            time_ns,
            action: event.action,
            id: event.container,
            attributes,
        }
    }
}

impl Engine {
    /// The container events of running `machine` from now on.
    pub async fn watch_containers(&self, machine: &str) -> Result<ContainerWatch> {
        Ok(ContainerWatch {
            engine: self.clone(),
            machine: machine.to_string(),
            stream: self.container_events(machine).await?,
            known: HashMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_docker_s_do() {
        let event = LifecycleEvent {
            time_ns: 0,
            action: ContainerAction::Die,
            id: "abcdef".into(),
            attributes: [
                ("name".to_string(), "web".to_string()),
                ("image".to_string(), "busybox".to_string()),
                ("tier".to_string(), "front".to_string()),
            ]
            .into(),
        };
        let filters = |pairs: &[(&str, &[&str])]| -> HashMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        assert!(event.matches(&filters(&[])));
        assert!(event.matches(&filters(&[
            ("container", &["abc"]),
            ("event", &["start", "die"])
        ])));
        assert!(event.matches(&filters(&[
            ("container", &["web"]),
            ("label", &["tier=front"])
        ])));
        assert!(!event.matches(&filters(&[("label", &["tier=front", "other"])])));
        assert!(!event.matches(&filters(&[("image", &["alpine"])])));
        assert!(!event.matches(&filters(&[("volume", &["x"])])));
        assert_eq!(event.action_name(), "die");
    }
}
