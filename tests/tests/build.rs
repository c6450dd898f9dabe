//! `hutch build`: a Dockerfile and its context become an image the way
//! docker's classic builder makes one: every instruction, the
//! `.dockerignore`, a cache that serves the steps before the first
//! change, stages that copy from each other, a Dockerfile on stdin. A
//! failed or mistaken build says why and leaves no image or container
//! behind.

use hutch_tests::{import_busybox, Hutch};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn inspect(h: &Hutch, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

/// An image's layers (diff ids), bottom first.
fn layers(image: &serde_json::Value) -> Vec<serde_json::Value> {
    image["RootFS"]["Layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no RootFS.Layers in {image}"))
        .clone()
}

/// docker's short id: the first 12 hex digits of `sha256:<hex>`.
fn short(id: &str) -> String {
    let hex = id
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{id:?} is not a sha256 id"));
    hex[..12].to_string()
}

fn is_short_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Writes `text` at `dir/name`, making the directories on the way.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    file
}

/// Sets a mode outright, whatever the umask made it.
fn set_mode(file: &Path, mode: u32) {
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The build's output cut into its steps, each from its `Step N/M :` line
/// up to the next (the last one runs on to the end of the output).
fn steps(out: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in out.lines() {
        if line.starts_with("Step ") {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// The `Step N/M : INSTRUCTION` line a step starts with.
fn header(block: &str) -> &str {
    block.lines().next().unwrap()
}

/// The instruction's keyword, as written (`RUN`, `COPY`, ...).
fn keyword(block: &str) -> &str {
    header(block)
        .split_once(" : ")
        .and_then(|(_, text)| text.split_whitespace().next())
        .unwrap_or_else(|| panic!("not a step header: {:?}", header(block)))
}

/// The image a step made: its last ` ---> <id12>` line.
fn step_id(block: &str) -> String {
    block
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .rfind(|id| is_short_id(id))
        .unwrap_or_else(|| panic!("no ` ---> <id>` line in this step:\n{block}"))
        .to_string()
}

fn cached(block: &str) -> bool {
    block.lines().any(|l| l == " ---> Using cache")
}

/// Whether the output shows `line` as a line of its own: a RUN's output,
/// not the step's header that quotes the command.
fn printed(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

fn ran_a_container(block: &str) -> bool {
    block.lines().any(|l| l.starts_with(" ---> Running in "))
}

/// The id after `Successfully built`.
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no `Successfully built` line in:\n{out}"))
        .to_string()
}

/// `REPOSITORY:TAG` of every row `hutch images` lists, sorted.
fn listed(h: &Hutch) -> Vec<String> {
    let mut names: Vec<String> = h
        .ok(&["images"])
        .lines()
        .skip(1)
        .map(|row| {
            let mut words = row.split_whitespace();
            format!("{}:{}", words.next().unwrap(), words.next().unwrap())
        })
        .collect();
    names.sort();
    names
}

/// `hutch ARGS` with `input` on its stdin.
fn with_stdin(h: &Hutch, args: &[&str], input: &str) -> Output {
    let mut child = h
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A build that fails early may not read it all; its output says so.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// Insists `out` succeeded; its stdout.
fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Insists `out` is a failure (an exit status, not 0) with every one of
/// `expected` in its stderr; (stdout, stderr).
fn failed(out: Output, what: &str, expected: &[&str]) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "{what}: wanted a failure, got {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    for wanted in expected {
        assert!(
            stderr.contains(wanted),
            "{what}: wanted {wanted:?} in stderr: {stderr}"
        );
    }
    (stdout, stderr)
}

const APP_DOCKERFILE: &str = r#"ARG BASE=bb:1
FROM ${BASE}
ARG GREETING=hello
ARG FLAVOR=plain
ENV APP_GREETING=$GREETING APP_FLAVOR=${FLAVOR}-flavor APP_HOME=/srv
LABEL org.example.name="hutch app" org.example.flavor=$FLAVOR
WORKDIR ${APP_HOME}
WORKDIR app
COPY hello.txt ./
COPY conf /etc/app/
COPY *.part /parts/
COPY *.log /logs/
COPY . /ctx/
COPY --chown=1000:1000 --chmod=0640 owned.txt /srv/owned.txt
COPY --chown=nobody:nogroup hello.txt /by-name.txt
ADD bundle.tar.gz /opt/
RUN echo "$GREETING from $APP_FLAVOR in $(pwd)" > made-by-run.txt && cat made-by-run.txt
RUN ["/bin/touch", "/made-by-exec-form"]
COPY tools/custom-shell /usr/local/bin/custom-shell
SHELL ["/usr/local/bin/custom-shell", "-c"]
USER app
RUN echo "build-uid=$(id -u)"
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s CMD cat /srv/app/hello.txt || exit 1
ONBUILD RUN echo child-build
ENTRYPOINT ["echo", "entry"]
CMD ["default-arg"]
"#;

#[test]
fn build_makes_an_image_of_every_instruction_and_the_context() {
    let h = Hutch::new("build");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    // A second base with one layer (and one file) more than bb:1: the ARG
    // before FROM is seen to choose it over its default.
    h.ok(&[
        "run",
        "--name",
        "marker",
        "bb:1",
        "sh",
        "-c",
        "echo base two > /base-marker",
    ]);
    h.ok(&["commit", "marker", "bb:2"]);
    h.ok(&["rm", "marker"]);

    let ctx = h.home.join("app");
    write(&ctx, "Dockerfile", APP_DOCKERFILE);
    // docker's syntax: a comment, names, a glob only at the root, an
    // exception, and `**` for any depth.
    write(
        &ctx,
        ".dockerignore",
        "# never sent to the builder\nsecret.txt\n*.log\n!keep.log\n**/*.tmp\n",
    );
    write(&ctx, "secret.txt", "do not ship\n");
    write(&ctx, "debug.log", "noise\n");
    set_mode(&write(&ctx, "keep.log", "kept\n"), 0o644);
    write(&ctx, "x.tmp", "scratch\n");
    write(&ctx, "conf/sub/scratch.tmp", "scratch\n");
    set_mode(&write(&ctx, "hello.txt", "hello from the context\n"), 0o644);
    set_mode(&write(&ctx, "conf/a.conf", "a\n"), 0o644);
    set_mode(&write(&ctx, "conf/sub/b.conf", "b\n"), 0o755);
    write(&ctx, "one.part", "1\n");
    write(&ctx, "two.part", "2\n");
    write(&ctx, "three.txt", "3\n");
    set_mode(&write(&ctx, "owned.txt", "owned\n"), 0o600);
    set_mode(
        &write(
            &ctx,
            "tools/custom-shell",
            "#!/bin/sh\necho \"custom-shell got: $*\"\nexec /bin/sh \"$@\"\n",
        ),
        0o755,
    );
    // ADD unpacks a local gzipped tar (it is not copied as the archive).
    let bundle = h.home.join("bundle");
    set_mode(&write(&bundle, "pkg/data.txt", "unpacked\n"), 0o644);
    let made = Command::new("tar")
        .arg("-C")
        .arg(&bundle)
        .arg("-czf")
        .arg(ctx.join("bundle.tar.gz"))
        .arg("pkg")
        .status()
        .unwrap();
    assert!(made.success(), "making bundle.tar.gz");

    let out = h.ok(&[
        "build",
        "-t",
        "app:1",
        "--build-arg",
        "BASE=bb:2",
        "--build-arg",
        "GREETING=howdy",
        path(&ctx),
    ]);

    // The classic builder's output: numbered steps, each ending in the id
    // of the image it made, the last one the image built and tagged.
    let blocks = steps(&out);
    assert!(blocks.len() >= 28, "a step per instruction:\n{out}");
    for (i, block) in blocks.iter().enumerate() {
        assert!(
            header(block).starts_with(&format!("Step {}/{} : ", i + 1, blocks.len())),
            "step {} is numbered in order:\n{out}",
            i + 1
        );
    }
    let app = inspect(&h, "app:1");
    let id = app["Id"].as_str().unwrap();
    assert_eq!(built_id(&out), short(id), "{out}");
    assert_eq!(step_id(blocks.last().unwrap()), short(id), "{out}");
    assert!(
        out.ends_with("Successfully tagged app:1\n"),
        "the name as given:\n{out}"
    );
    // A RUN: its container, its output, the container removed, the image.
    let run = blocks
        .iter()
        .find(|b| header(b).contains(" : RUN echo \"$GREETING from"))
        .unwrap_or_else(|| panic!("the first RUN's step:\n{out}"));
    let lines: Vec<&str> = run.lines().collect();
    let container = lines[1]
        .strip_prefix(" ---> Running in ")
        .unwrap_or_else(|| panic!("a RUN runs in a container:\n{run}"));
    assert!(is_short_id(container), "{run}");
    assert_eq!(
        lines[2], "howdy from plain-flavor in /srv/app",
        "the ARG given, the ARG's default through ENV, the WORKDIR:\n{run}"
    );
    assert_eq!(
        lines[3],
        format!("Removing intermediate container {container}"),
        "{run}"
    );
    assert!(is_short_id(&step_id(run)), "{run}");
    // After USER, RUN runs as that user, through the SHELL set before.
    assert!(
        out.lines().any(|l| l == "build-uid=1000"),
        "RUN after USER app:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("custom-shell got: -c echo \"build-uid=")),
        "RUN's shell form goes through SHELL:\n{out}"
    );
    // Steps that only change the config run no container.
    for block in &blocks {
        if [
            "ENV",
            "LABEL",
            "EXPOSE",
            "VOLUME",
            "STOPSIGNAL",
            "USER",
            "SHELL",
            "HEALTHCHECK",
            "ONBUILD",
            "ENTRYPOINT",
            "CMD",
        ]
        .contains(&keyword(block))
        {
            assert!(!ran_a_container(block), "config only:\n{block}");
            assert!(is_short_id(&step_id(block)), "{block}");
        }
    }
    // Intermediate images are the build cache's, not listed; no
    // container is left.
    assert_eq!(listed(&h), ["app:1", "bb:1", "bb:2"]);
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "", "intermediate containers go");

    // The config, as docker's inspect shows it.
    let config = &app["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap_or_else(|| panic!("Env in {config}"))
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for wanted in [
        "APP_GREETING=howdy",
        "APP_FLAVOR=plain-flavor",
        "APP_HOME=/srv",
    ] {
        assert!(env.contains(&wanted), "{wanted} in {env:?}");
    }
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING=")
            || e.starts_with("FLAVOR=")
            || e.starts_with("BASE=")),
        "build args are not kept in the image: {env:?}"
    );
    assert_eq!(
        config["Labels"]["org.example.name"], "hutch app",
        "{config}"
    );
    assert_eq!(config["Labels"]["org.example.flavor"], "plain", "{config}");
    assert_eq!(config["WorkingDir"], "/srv/app", "relative after absolute");
    assert_eq!(config["User"], "app");
    assert_eq!(
        config["ExposedPorts"],
        serde_json::json!({ "8080/tcp": {}, "53/udp": {} })
    );
    assert_eq!(config["Volumes"], serde_json::json!({ "/data": {} }));
    assert_eq!(config["StopSignal"], "SIGQUIT");
    assert_eq!(config["Entrypoint"], serde_json::json!(["echo", "entry"]));
    assert_eq!(config["Cmd"], serde_json::json!(["default-arg"]));
    let check = &config["Healthcheck"]["Test"];
    assert_eq!(check[0], "CMD-SHELL", "{config}");
    assert!(
        check[1]
            .as_str()
            .is_some_and(|c| c.contains("cat /srv/app/hello.txt")),
        "{config}"
    );
    assert!(
        config["OnBuild"]
            .as_array()
            .is_some_and(|o| o.iter().any(|t| t
                .as_str()
                .is_some_and(|t| t.contains("RUN echo child-build")))),
        "{config}"
    );

    // It runs its ENTRYPOINT with its CMD, or with the arguments given.
    assert_eq!(h.ok(&["run", "--rm", "app:1"]), "entry default-arg\n");
    assert_eq!(h.ok(&["run", "--rm", "app:1", "other"]), "entry other\n");

    // The files: where COPY and ADD put them, owners and modes (root's
    // unless --chown, the context's mode unless --chmod), what RUN made,
    // and nothing .dockerignore excludes.
    let script = "pwd; id -u; echo \"$APP_GREETING $APP_FLAVOR\"; \
        cat hello.txt made-by-run.txt; \
        ls /etc/app; ls /etc/app/sub; ls /parts; ls /logs; \
        stat -c '%u:%g %a' /srv/app/hello.txt /srv/owned.txt /by-name.txt /etc/app/sub/b.conf; \
        cat /srv/owned.txt /opt/pkg/data.txt; \
        test -e /opt/bundle.tar.gz || echo archive-unpacked; \
        test -e /made-by-exec-form && echo exec-form-ran; \
        test -e /ctx/secret.txt || echo secret-ignored; \
        test -e /ctx/debug.log || echo log-ignored; \
        test -e /ctx/x.tmp || test -e /ctx/conf/sub/scratch.tmp || echo tmp-ignored; \
        cat /ctx/keep.log /ctx/conf/a.conf /base-marker";
    assert_eq!(
        h.ok(&["run", "--rm", "--entrypoint", "sh", "app:1", "-c", script]),
        "/srv/app\n\
         1000\n\
         howdy plain-flavor\n\
         hello from the context\n\
         howdy from plain-flavor in /srv/app\n\
         a.conf\nsub\n\
         b.conf\n\
         one.part\ntwo.part\n\
         keep.log\n\
         0:0 644\n\
         1000:1000 640\n\
         65534:65534 644\n\
         0:0 755\n\
         owned\n\
         unpacked\n\
         archive-unpacked\n\
         exec-form-ran\n\
         secret-ignored\n\
         log-ignored\n\
         tmp-ignored\n\
         kept\n\
         a\n\
         base two\n"
    );

    // Built FROM bb:2, it shares bb:2's layers and adds its own on top.
    let base_layers = layers(&inspect(&h, "bb:2"));
    let app_layers = layers(&app);
    assert!(app_layers.len() > base_layers.len(), "{app}");
    assert_eq!(&app_layers[..base_layers.len()], &base_layers[..]);
}

const CACHED_DOCKERFILE: &str = r#"FROM bb:1
RUN echo ran-step-two && echo one > /one
COPY data.txt /data.txt
RUN cat /data.txt > /copy-of-data && cat /copy-of-data
ENV STAGE=cached
CMD ["cat", "/copy-of-data"]
"#;

#[test]
fn rebuilds_use_the_cache_until_the_first_changed_step() {
    let h = Hutch::new("build-cache");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    let ctx = h.home.join("cached");
    write(&ctx, "Dockerfile", CACHED_DOCKERFILE);
    let data = write(&ctx, "data.txt", "first version\n");
    let build = |flags: &[&str]| {
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.extend(["-t", "cache:1", path(&ctx)]);
        h.ok(&args)
    };

    let first = build(&[]);
    let blocks = steps(&first);
    let headers: Vec<&str> = blocks.iter().map(|b| header(b)).collect();
    assert_eq!(
        headers,
        [
            "Step 1/6 : FROM bb:1",
            "Step 2/6 : RUN echo ran-step-two && echo one > /one",
            "Step 3/6 : COPY data.txt /data.txt",
            "Step 4/6 : RUN cat /data.txt > /copy-of-data && cat /copy-of-data",
            "Step 5/6 : ENV STAGE=cached",
            "Step 6/6 : CMD [\"cat\", \"/copy-of-data\"]",
        ],
        "{first}"
    );
    assert_eq!(
        step_id(&blocks[0]),
        short(inspect(&h, "bb:1")["Id"].as_str().unwrap()),
        "FROM shows the base's id:\n{first}"
    );
    assert!(!first.contains("Using cache"), "an empty cache:\n{first}");
    assert!(printed(&first, "ran-step-two"), "{first}");
    assert!(printed(&blocks[3], "first version"), "{first}");
    let first_ids: Vec<String> = blocks.iter().map(|b| step_id(b)).collect();
    let first_id = first_ids[5].clone();
    assert_eq!(built_id(&first), first_id);
    assert_eq!(
        short(inspect(&h, "cache:1")["Id"].as_str().unwrap()),
        first_id
    );
    // The steps' images are the cache's: `images` lists the two named
    // ones only.
    assert_eq!(listed(&h), ["bb:1", "cache:1"]);
    assert_eq!(h.ok(&["images", "-q"]).lines().count(), 2);
    assert_eq!(h.ok(&["run", "--rm", "cache:1"]), "first version\n");

    // Unchanged: every step after FROM from the cache, no RUN runs, the
    // same images.
    let again = build(&[]);
    let blocks = steps(&again);
    assert_eq!(blocks.len(), 6, "{again}");
    for block in &blocks[1..] {
        assert!(cached(block), "unchanged, so cached:\n{again}");
        assert!(!ran_a_container(block), "{again}");
    }
    assert!(
        !printed(&again, "ran-step-two"),
        "a cached RUN does not run:\n{again}"
    );
    assert_eq!(
        blocks.iter().map(|b| step_id(b)).collect::<Vec<_>>(),
        first_ids
    );
    assert_eq!(built_id(&again), first_id);

    // The same content with another mtime is no change: the cache keys
    // COPY on what is copied.
    std::fs::write(&data, "first version\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let touched = build(&[]);
    assert!(
        steps(&touched)[1..].iter().all(|b| cached(b)),
        "only the mtime changed:\n{touched}"
    );
    assert_eq!(built_id(&touched), first_id);

    // New content: the step before the COPY is still cached, the COPY and
    // every step after it are made again.
    std::fs::write(&data, "second version\n").unwrap();
    let changed = build(&[]);
    let blocks = steps(&changed);
    assert_eq!(blocks.len(), 6, "{changed}");
    assert!(cached(&blocks[1]), "before the change:\n{changed}");
    assert_eq!(step_id(&blocks[1]), first_ids[1]);
    for (i, block) in blocks.iter().enumerate().skip(2) {
        assert!(
            !cached(block),
            "step {} follows the change:\n{changed}",
            i + 1
        );
        assert_ne!(step_id(block), first_ids[i], "a new image:\n{changed}");
    }
    assert!(ran_a_container(&blocks[3]), "{changed}");
    assert!(printed(&blocks[3], "second version"), "{changed}");
    assert!(!printed(&changed, "ran-step-two"), "{changed}");
    let second_id = built_id(&changed);
    assert_ne!(second_id, first_id);
    assert_eq!(h.ok(&["run", "--rm", "cache:1"]), "second version\n");

    // Back to the first content: the first build's steps serve again.
    std::fs::write(&data, "first version\n").unwrap();
    let back = build(&[]);
    assert!(
        steps(&back)[1..].iter().all(|b| cached(b)),
        "the first content's steps are cached:\n{back}"
    );
    assert_eq!(built_id(&back), first_id);

    // --no-cache: nothing from the cache, every RUN runs.
    let fresh = build(&["--no-cache"]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert!(printed(&fresh, "ran-step-two"), "{fresh}");
    assert_eq!(steps(&fresh).len(), 6, "{fresh}");
    assert_eq!(h.ok(&["run", "--rm", "cache:1"]), "first version\n");

    // -q: only the image's full id.
    let quiet = build(&["-q"]);
    let id = inspect(&h, "cache:1")["Id"].as_str().unwrap().to_string();
    assert_eq!(quiet, format!("{id}\n"));
    assert!(
        id.len() == 71 && id["sha256:".len()..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    // Pruning the build cache keeps the named images, and the next build
    // finds nothing cached.
    h.ok(&["builder", "prune", "-f"]);
    assert_eq!(listed(&h), ["bb:1", "cache:1"]);
    assert_eq!(h.ok(&["run", "--rm", "cache:1"]), "first version\n");
    let after_prune = build(&[]);
    assert!(
        !after_prune.contains("Using cache"),
        "the cache was emptied:\n{after_prune}"
    );
    assert!(printed(&after_prune, "ran-step-two"), "{after_prune}");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

const STAGES_DOCKERFILE: &str = r#"FROM bb:1 AS builder
RUN mkdir /out && echo built > /out/app && echo extra > /out/extra
FROM bb:1 AS final
COPY --from=builder /out/app /app/app
COPY --from=0 /out /copied
COPY --from=bb:1 /etc/group /from-image/group
CMD ["cat", "/app/app"]
"#;

#[test]
fn stages_copy_from_each_other_a_target_stops_early_and_scratch_and_stdin_build() {
    let h = Hutch::new("build-stages");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    let base_layers = layers(&inspect(&h, "bb:1"));
    let ctx = h.home.join("stages");
    write(&ctx, "Dockerfile", STAGES_DOCKERFILE);

    // The last stage is the image: files copied from the first stage by
    // name and by index (a directory's contents) and from an image, but
    // nothing else of the first stage.
    let out = h.ok(&["build", "-t", "multi:1", path(&ctx)]);
    assert!(out.ends_with("Successfully tagged multi:1\n"), "{out}");
    assert_eq!(h.ok(&["run", "--rm", "multi:1"]), "built\n");
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "multi:1",
            "sh",
            "-c",
            "ls /copied; grep -c nogroup /from-image/group; test -e /out || echo no-builder-files",
        ]),
        "app\nextra\n1\nno-builder-files\n"
    );
    let multi_layers = layers(&inspect(&h, "multi:1"));
    assert_eq!(
        multi_layers.len(),
        base_layers.len() + 3,
        "bb:1's layers and the three COPYs', not the builder's RUN"
    );
    assert_eq!(&multi_layers[..base_layers.len()], &base_layers[..]);
    assert_eq!(
        listed(&h),
        ["bb:1", "multi:1"],
        "stages are not named images"
    );

    // --target: only the stages up to the one named.
    let out = h.ok(&["build", "--target", "builder", "-t", "stage:1", path(&ctx)]);
    assert!(
        !out.contains("COPY --from") && !out.contains("AS final"),
        "the final stage is not built:\n{out}"
    );
    assert!(out.ends_with("Successfully tagged stage:1\n"), "{out}");
    assert_eq!(
        h.ok(&["run", "--rm", "stage:1", "cat", "/out/app"]),
        "built\n"
    );
    assert_eq!(
        layers(&inspect(&h, "stage:1")).len(),
        base_layers.len() + 1,
        "bb:1's layers and the RUN's"
    );

    // FROM scratch: one layer, of the COPY. -f and the context are both
    // relative to the current directory, as docker's; no tag means
    // `latest`.
    write(&h.home, "static/static.txt", "static\n");
    write(
        &h.home,
        "files/scratch.Dockerfile",
        "FROM scratch\nCOPY static.txt /static.txt\n",
    );
    let out = succeeded(
        h.cmd(&[
            "build",
            "-f",
            "files/scratch.Dockerfile",
            "-t",
            "scratchy",
            "static",
        ])
        .current_dir(&h.home)
        .output()
        .unwrap(),
        "a build with a relative -f",
    );
    assert!(
        out.ends_with("Successfully tagged scratchy:latest\n"),
        "{out}"
    );
    let scratchy = inspect(&h, "scratchy:latest");
    assert_eq!(layers(&scratchy).len(), 1, "{scratchy}");
    assert_eq!(built_id(&out), short(scratchy["Id"].as_str().unwrap()));

    // It saves as any image does, its one layer holding the file.
    let saved = h.home.join("scratchy.tar");
    h.ok(&["save", "-o", path(&saved), "scratchy"]);
    let mut files = std::collections::HashMap::new();
    let bytes = std::fs::read(&saved).unwrap();
    for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["scratchy:latest"])
    );
    let saved_layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(saved_layers.len(), 1, "{manifest}");
    let layer = h.home.join("scratchy-layer");
    std::fs::write(&layer, &files[saved_layers[0].as_str().unwrap()]).unwrap();
    // GNU tar finds the compression itself.
    let listing = Command::new("tar").arg("-tf").arg(&layer).output().unwrap();
    assert!(listing.status.success(), "the layer is a tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "static.txt"),
        "{listing}"
    );

    // A Dockerfile on stdin, with no context.
    let out = succeeded(
        with_stdin(
            &h,
            &["build", "-t", "piped:1", "-"],
            "FROM bb:1\nRUN echo piped > /p\n",
        ),
        "build -",
    );
    assert!(out.ends_with("Successfully tagged piped:1\n"), "{out}");
    assert_eq!(h.ok(&["run", "--rm", "piped:1", "cat", "/p"]), "piped\n");

    // ADD of a URL: fetched on the host, kept as it is (mode 0600, as
    // docker's), needing no context.
    let port = hutch_tests::http_server(std::sync::Arc::new(b"fetched\n".to_vec()));
    succeeded(
        with_stdin(
            &h,
            &["build", "-t", "fetched:1", "-"],
            &format!("FROM bb:1\nADD http://127.0.0.1:{port}/files/fetched.txt /srv/\n"),
        ),
        "ADD of a URL",
    );
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "fetched:1",
            "sh",
            "-c",
            "stat -c %a /srv/fetched.txt; cat /srv/fetched.txt"
        ]),
        "600\nfetched\n"
    );

    // ONBUILD: stored in the image, run when another is built FROM it
    // (before that build's own steps), and not passed on further.
    succeeded(
        with_stdin(
            &h,
            &["build", "-t", "parent:1", "-"],
            "FROM bb:1\nONBUILD RUN echo triggered > /t\nONBUILD ENV CHILD=yes\n",
        ),
        "a build with ONBUILD",
    );
    assert_eq!(
        inspect(&h, "parent:1")["Config"]["OnBuild"],
        serde_json::json!(["RUN echo triggered > /t", "ENV CHILD=yes"])
    );
    let out = succeeded(
        with_stdin(
            &h,
            &["build", "-t", "child:1", "-"],
            "FROM parent:1\nRUN cat /t\n",
        ),
        "a build FROM an image with triggers",
    );
    assert!(out.contains("# Executing 2 build triggers\n"), "{out}");
    assert!(printed(&out, "triggered"), "the trigger ran first:\n{out}");
    let child = inspect(&h, "child:1");
    assert!(child["Config"]["OnBuild"].is_null(), "{child}");
    assert!(
        child["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("CHILD=yes")),
        "{child}"
    );
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn a_failed_or_mistaken_build_says_why_and_leaves_nothing_behind() {
    let h = Hutch::new("build-errors");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    // A RUN that fails: its output shown, docker's message, the build
    // stopped there, no image named, no container left.
    let ctx = h.home.join("failing");
    write(
        &ctx,
        "Dockerfile",
        "FROM bb:1\nRUN echo before-fail && exit 3\nCMD [\"true\"]\n",
    );
    let (out, _) = failed(
        h.run(&["build", "-t", "broken:1", path(&ctx)]),
        "a failing RUN",
        &["The command '/bin/sh -c echo before-fail && exit 3' returned a non-zero code: 3"],
    );
    assert!(out.lines().any(|l| l == "before-fail"), "{out}");
    assert!(
        !out.contains("Step 3/3") && !out.contains("Successfully"),
        "the build stops at the failure:\n{out}"
    );
    assert_eq!(listed(&h), ["bb:1"]);
    assert_eq!(h.ok(&["images", "-q"]).lines().count(), 1, "no <none> left");
    assert_eq!(
        h.ok(&["ps", "-a", "-q"]),
        "",
        "the failed step's container is removed"
    );
    // Mended, the same context builds.
    write(&ctx, "Dockerfile", "FROM bb:1\nRUN echo mended > /m\n");
    h.ok(&["build", "-t", "mended:1", path(&ctx)]);
    assert_eq!(h.ok(&["run", "--rm", "mended:1", "cat", "/m"]), "mended\n");
    let names = listed(&h);
    let ids = h.ok(&["images", "-q"]);

    // Bad input: each says what is wrong (and, where it can, what to do).
    let empty = h.home.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (_, err) = failed(
        h.run(&["build", "-t", "x:1", path(&empty)]),
        "no Dockerfile in the context",
        &["Dockerfile", path(&empty)],
    );
    assert!(
        err.replace(path(&empty), "").contains("-f"),
        "names -f to give another: {err}"
    );
    failed(
        h.run(&[
            "build",
            "-f",
            path(&ctx.join("Nope.Dockerfile")),
            path(&ctx),
        ]),
        "-f to a missing file",
        &["Nope.Dockerfile"],
    );
    failed(
        h.run(&["build", path(&h.home.join("no-such-dir"))]),
        "a missing context",
        &["no-such-dir"],
    );

    let bad = h.home.join("bad");
    write(&bad, ".dockerignore", "secret.txt\n");
    write(&bad, "secret.txt", "do not ship\n");
    write(&h.home, "outside.txt", "beyond the context\n");
    let cases: [(&str, &str, &[&str], &[&str]); 7] = [
        (
            "an unknown instruction",
            "FROM bb:1\nRUNN echo x\n",
            &[],
            &["RUNN", "line 2"],
        ),
        ("no FROM", "RUN echo x\n", &[], &["FROM"]),
        (
            "COPY of a missing file",
            "FROM bb:1\nCOPY missing.txt /\n",
            &[],
            &["missing.txt"],
        ),
        (
            "COPY of an ignored file",
            "FROM bb:1\nCOPY secret.txt /\n",
            &[],
            &["secret.txt"],
        ),
        (
            "COPY from outside the context",
            "FROM bb:1\nCOPY ../outside.txt /\n",
            &[],
            &["outside.txt"],
        ),
        (
            "a target no stage has",
            "FROM bb:1 AS one\nCMD [\"true\"]\n",
            &["--target", "nosuch"],
            &["nosuch"],
        ),
        (
            "FROM an image neither local nor pullable",
            "FROM 127.0.0.1:1/nothing:1\nCMD [\"true\"]\n",
            &[],
            &["127.0.0.1:1/nothing"],
        ),
    ];
    for (what, dockerfile, flags, expected) in cases {
        write(&bad, "Dockerfile", dockerfile);
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.extend(["-t", "bad:1", path(&bad)]);
        let (_, err) = failed(h.run(&args), what, expected);
        if what == "an unknown instruction" {
            assert!(err.to_lowercase().contains("unknown instruction"), "{err}");
        }
    }
    // From stdin there is no context to COPY from.
    failed(
        with_stdin(
            &h,
            &["build", "-t", "bad:1", "-"],
            "FROM bb:1\nCOPY anything.txt /\n",
        ),
        "COPY in a build without a context",
        &["anything.txt"],
    );

    assert_eq!(listed(&h), names, "no failed build named an image");
    assert_eq!(h.ok(&["images", "-q"]), ids, "nor left one unnamed");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");

    // Ctrl-C during a RUN: the build stops with 130 and its step's
    // container goes.
    let mut build = hutch_tests::Piped::spawn(h.cmd(&["build", "-"]));
    build.send("FROM bb:1\nRUN echo started && sleep 600\n");
    build.close_input();
    build.read_until("started");
    let interrupted = Command::new("kill")
        .args(["-INT", &build.pid().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let (_, code) = build.finish();
    assert_eq!(code, Some(130));
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "", "the RUN's container is gone");
}

const RULES_DOCKERFILE: &str = r#"FROM vol:1
ARG FLAGS="-O2 -g"
ENV CFLAGS=$FLAGS QUOTED="it's \"$FLAGS\""
WORKDIR /app
COPY requirements.txt .
COPY *.jar app.jar
COPY inside-link /linked.txt
COPY seed.txt /data/seed.txt
ADD dump.sql.gz /dumps/
RUN env | grep -q '^http_proxy=http://proxy.example:3128$' && echo proxied
"#;

#[test]
fn copy_keeps_dockers_destination_rules_and_stays_in_the_context() {
    let h = Hutch::new("build-rules");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    // A base with a VOLUME: COPY under it writes into the image.
    succeeded(
        with_stdin(
            &h,
            &["build", "-t", "vol:1", "-"],
            "FROM bb:1\nVOLUME /data\n",
        ),
        "a base with a volume",
    );
    let ctx = h.home.join("rules");
    write(&ctx, "Dockerfile", RULES_DOCKERFILE);
    write(&ctx, "requirements.txt", "flask\n");
    write(&ctx, "build/only-1.0.jar", "jar\n");
    write(&ctx, "only-1.0.jar", "jar\n");
    write(&ctx, "real.txt", "through a link\n");
    write(&ctx, "seed.txt", "seeded\n");
    std::os::unix::fs::symlink("sub/../real.txt", ctx.join("inside-link")).unwrap();
    // A gzip file that holds no tar is copied as it is.
    let gz = Command::new("gzip")
        .arg("-c")
        .stdin(std::fs::File::open(write(&ctx, "dump.sql", "select 1;\n")).unwrap())
        .output()
        .unwrap();
    std::fs::write(ctx.join("dump.sql.gz"), gz.stdout).unwrap();

    let out = succeeded(
        h.cmd(&[
            "build",
            "-t",
            "rules:1",
            "--label",
            "team=build tools",
            "--build-arg",
            "http_proxy=http://proxy.example:3128",
            path(&ctx),
        ])
        .output()
        .unwrap(),
        "the rules build",
    );
    assert!(printed(&out, "proxied"), "the proxy reached RUN:\n{out}");
    assert!(!out.contains("not consumed"), "{out}");
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "rules:1",
            "sh",
            "-c",
            "cat /app/requirements.txt /app/app.jar /linked.txt /data/seed.txt; \
             test -f /app/app.jar && echo file; gzip -dc /dumps/dump.sql.gz; \
             echo \"$CFLAGS|$QUOTED\"",
        ]),
        "flask\njar\nthrough a link\nseeded\nfile\nselect 1;\n-O2 -g|it's \"-O2 -g\"\n"
    );
    let config = &inspect(&h, "rules:1")["Config"];
    assert_eq!(config["Labels"]["team"], "build tools", "{config}");
    let env = config["Env"].as_array().unwrap();
    assert!(
        !env.iter().any(|e| e.as_str().unwrap().contains("proxy")),
        "a proxy build arg is not kept: {config}"
    );

    // A link that points out of the context leads inside it instead: the
    // host's file is never read.
    let leak = h.home.join("leak");
    write(&leak, "Dockerfile", "FROM bb:1\nCOPY hostname /stolen\n");
    std::os::unix::fs::symlink("/etc/hostname", leak.join("hostname")).unwrap();
    failed(
        h.cmd(&["build", path(&leak)]).output().unwrap(),
        "COPY through a link out of the context",
        &["hostname", "not found in build context"],
    );

    // FROM scratch, a config step, then COPY: still the first layer.
    write(
        &leak,
        "Dockerfile",
        "FROM scratch\nARG ARCH=amd64\nCOPY Dockerfile /Dockerfile.$ARCH\n",
    );
    succeeded(
        h.cmd(&["build", "-t", "scratch-arg:1", path(&leak)])
            .output()
            .unwrap(),
        "FROM scratch, ARG, COPY",
    );
    assert_eq!(layers(&inspect(&h, "scratch-arg:1")).len(), 1);
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}
