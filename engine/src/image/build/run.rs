//! RUN: the command runs in a container of the step's parent image in the
//! machine, its output relayed into the build's; on success the
//! container's writable layer is committed as the step's image. The
//! container is removed either way.

use super::dockerfile::CommandForm;
use super::stage::StageState;
use super::{Build, BuildOutput};
use crate::container::{CreateRequest, Flags};
use crate::image::commit::{layer_descriptors, Finish, Keep};
use crate::image::manifest::{self, Image};
use crate::image::store::Store;
use crate::image::{ImageError, ImageName};
use protocol::ExitStatus;
use serde_json::json;
use std::sync::atomic::Ordering;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

impl Build<'_> {
    /// A container of `image` for a build step, running `command` (not the
    /// image's entrypoint) as the stage's user in its working directory;
    /// named after the build, so that an interrupted build's can be found.
    pub(super) fn step_container(
        &self,
        image: &Image,
        command: Vec<String>,
        state: Option<&StageState>,
        env: Vec<String>,
    ) -> Result<CreateRequest, ImageError> {
        let n = self.containers.fetch_add(1, Ordering::Relaxed);
        Ok(CreateRequest {
            image: image
                .config_digest
                .as_str()
                .parse::<ImageName>()
                .map_err(ImageError::from)?,
            flags: Flags {
                command,
                entrypoint: Some(String::new()),
                env,
                workdir: state.map(StageState::workdir),
                user: state.and_then(StageState::user),
                ..Flags::default()
            },
            name: Some(format!("{}-{n}", self.id)),
            auto_remove: false,
            stdin: false,
            tty: false,
            network: "bridge".into(),
            aliases: Vec::new(),
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            mounts: Vec::new(),
            volumes_from: Vec::new(),
            ports: Vec::new(),
            publish_all: false,
        })
    }
}

/// Sends what `stream` carries into the build's output until it ends.
async fn relay(mut stream: UnixStream, out: BuildOutput) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let _ = out.send(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

impl Build<'_> {
    pub(super) async fn run_step(
        &mut self,
        state: &StageState,
        command: &CommandForm,
    ) -> crate::Result<Image> {
        let args = state.run_args();
        let argv = match command {
            CommandForm::Exec(words) => words.clone(),
            CommandForm::Shell(text) => [state.shell(), vec![text.clone()]].concat(),
        };
        let key = state.key(&json!(["RUN", argv, args]));
        if let Some(image) = self.cached(&key)? {
            self.say(" ---> Using cache\n".into());
            return Ok(image);
        }
        let Some(parent) = state
            .image
            .as_ref()
            .filter(|i| !i.manifest.layers().is_empty())
        else {
            return Err(ImageError::Invalid(
                "RUN has nothing to run in a stage FROM scratch until COPY or ADD puts a program there"
                    .into(),
            )
            .into());
        };
        // docker's classic record of the build args a RUN saw.
        let created_by = match args.is_empty() {
            true => argv.join(" "),
            false => format!("|{} {} {}", args.len(), args.join(" "), argv.join(" ")),
        };
        // The proxy settings given as build args reach the command but
        // neither the history nor the cache key, as docker keeps them.
        let proxies = super::PROXY_ARGS.iter().filter_map(|name| {
            let value = self.options.build_args.get(*name)?;
            (!state.args.contains_key(*name)).then(|| format!("{name}={value}"))
        });
        let env = args.iter().cloned().chain(proxies).collect();
        let request = self.step_container(parent, argv.clone(), Some(state), env)?;
        let container = self.engine.create_container(self.machine, &request).await?;
        self.say(format!(" ---> Running in {}\n", short(&container)));
        let made = self
            .run_and_commit(&container, parent, state, &argv, created_by, key)
            .await;
        let image = self.discard(&container, made).await?;
        self.say(format!(
            "Removing intermediate container {}\n",
            short(&container)
        ));
        Ok(image)
    }

    async fn run_and_commit(
        &self,
        container: &str,
        parent: &Image,
        state: &StageState,
        argv: &[String],
        created_by: String,
        key: String,
    ) -> crate::Result<Image> {
        let mut process = self
            .engine
            .attach_container(self.machine, container, false)
            .await?;
        let relays: Vec<_> = [process.stdout.take(), process.stderr.take()]
            .into_iter()
            .flatten()
            .map(|stream| tokio::spawn(relay(stream, self.out.clone())))
            .collect();
        process.start().await?;
        let status = process.wait().await?;
        for relay in relays {
            let _ = relay.await;
        }
        if !matches!(status, ExitStatus::Code(0)) {
            return Err(ImageError::Invalid(format!(
                "The command '{}' returned a non-zero code: {}",
                argv.join(" "),
                status.shell_code()
            ))
            .into());
        }
        let config = state.next_config(created_by, false);
        self.commit_step(container, parent, config, key).await
    }

    /// Commits `container`'s writable layer on `parent` as the step's
    /// image, with `config`, cached under `key`.
    pub(super) async fn commit_step(
        &self,
        container: &str,
        parent: &Image,
        config: serde_json::Value,
        key: String,
    ) -> crate::Result<Image> {
        let finish = Finish {
            store: Store::at(self.store.root().to_path_buf()),
            lock: self.store.lock_async().await?,
            layers: layer_descriptors(Some(parent)),
            config,
            keep: Keep::BuildStep(key),
        };
        let manifest = self
            .engine
            .store_commit(self.machine, container, finish)
            .await?;
        Ok(manifest::load(&self.store, &manifest)?)
    }

    /// Removes a step's container, whatever `made` is; then `made`.
    pub(super) async fn discard<T>(
        &self,
        container: &str,
        made: crate::Result<T>,
    ) -> crate::Result<T> {
        let removed = self
            .engine
            .remove_container(self.machine, container, true, true)
            .await;
        let made = made?;
        removed?;
        Ok(made)
    }
}

/// The short form of a container id docker prints.
pub(super) fn short(container: &str) -> &str {
    &container[..container.len().min(12)]
}
