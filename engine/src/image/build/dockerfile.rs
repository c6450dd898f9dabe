//! A Dockerfile read into stages of owned steps. `parse-dockerfile` does
//! the parsing; this keeps what the builder needs of each instruction and
//! its text as written (docker prints it, and after expansion it keys the
//! cache).

use crate::image::ImageError;
use parse_dockerfile::{Command, Flag, HealthcheckArguments, Instruction, Source};

pub struct Dockerfile {
    /// ARGs before the first FROM: seen by FROM lines, and by stages that
    /// declare them again.
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

pub struct Stage {
    pub from: String,
    pub from_text: String,
    pub name: Option<String>,
    pub steps: Vec<Step>,
}

pub struct Step {
    /// The instruction as written, on one line.
    pub text: String,
    pub kind: Kind,
}

pub enum Kind {
    Run(CommandForm),
    Copy(CopySpec),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    Shell(Vec<String>),
    Healthcheck(Option<Healthcheck>),
    Onbuild(String),
    Maintainer(String),
    /// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME: what
    /// `commit --change` applies, after `expand`.
    Config {
        expand: Expansion,
    },
}

/// Whose the variables in a config instruction are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expansion {
    /// The shell's, when the command runs (CMD, ENTRYPOINT).
    None,
    /// The builder's (EXPOSE, STOPSIGNAL, USER, VOLUME).
    Plain,
    /// The builder's, in `KEY=value` pairs split afterwards (ENV, LABEL).
    Pairs,
}

pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

pub struct CopySpec {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

#[derive(Clone)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

pub struct Healthcheck {
    /// docker's `Test`: `CMD-SHELL cmd` or `CMD arg...`.
    pub test: Vec<String>,
    /// `--interval` and the rest, as written.
    pub options: Vec<(String, String)>,
}

fn invalid(why: String) -> ImageError {
    ImageError::Invalid(format!("Dockerfile: {why}"))
}

/// Reads `text`.
pub fn parse(text: &str) -> Result<Dockerfile, ImageError> {
    let file = parse_dockerfile::parse(text).map_err(|e| invalid(e.to_string()))?;
    let starts: Vec<usize> = file.instructions.iter().map(keyword_start).collect();
    let text_of = |index: usize| {
        let end = starts.get(index + 1).copied().unwrap_or(text.len());
        one_line(&text[starts[index]..end])
    };
    let global_args = file
        .global_args()
        .map(|arg| arg_decls(&arg.arguments.value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?
        .concat();
    let mut stages = Vec::new();
    let mut index = file.global_args().len();
    for stage in file.stages() {
        let from_text = text_of(index);
        index += 1;
        let mut steps = Vec::new();
        for instruction in stage.instructions {
            let text = text_of(index);
            index += 1;
            let kind = match kind(instruction).map_err(|why| invalid(format!("{text}: {why}")))? {
                Kind::Onbuild(_) => Kind::Onbuild(onbuild_trigger(&text)),
                kind => kind,
            };
            steps.push(Step { text, kind });
        }
        stages.push(Stage {
            from: stage.from.image.value.to_string(),
            from_text,
            name: stage.from.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
            steps,
        });
    }
    Ok(Dockerfile {
        global_args,
        stages,
    })
}

/// An ONBUILD trigger of a base image, read as the step it runs.
pub fn parse_trigger(trigger: &str) -> Result<Step, ImageError> {
    let mut file = parse(&format!("FROM scratch\n{trigger}\n"))?;
    match file.stages.pop().map(|stage| stage.steps) {
        Some(mut steps) if steps.len() == 1 => Ok(steps.remove(0)),
        _ => Err(invalid(format!(
            "the base image's ONBUILD trigger {trigger:?} is not one instruction"
        ))),
    }
}

/// The LABEL step `--label` adds at the end, its values as given (no
/// variables expand in them).
pub fn label_step(labels: &std::collections::BTreeMap<String, String>) -> Step {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(|q| q.into_owned())
            .unwrap_or_default()
    };
    let pairs: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{}={}", quote(key), quote(value)))
        .collect();
    Step {
        text: format!("LABEL {}", pairs.join(" ")),
        kind: Kind::Config {
            expand: Expansion::None,
        },
    }
}

/// An instruction's text on one line: continuations joined, comment lines
/// inside it dropped.
fn one_line(text: &str) -> String {
    let mut joined = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head.trim_end());
                joined.push(' ');
            }
            None => {
                joined.push_str(trimmed);
                break;
            }
        }
    }
    joined.trim().to_string()
}

fn keyword_start(instruction: &Instruction<'_>) -> usize {
    let keyword = match instruction {
        Instruction::Add(i) => &i.add,
        Instruction::Arg(i) => &i.arg,
        Instruction::Cmd(i) => &i.cmd,
        Instruction::Copy(i) => &i.copy,
        Instruction::Entrypoint(i) => &i.entrypoint,
        Instruction::Env(i) => &i.env,
        Instruction::Expose(i) => &i.expose,
        Instruction::From(i) => &i.from,
        Instruction::Healthcheck(i) => &i.healthcheck,
        Instruction::Label(i) => &i.label,
        Instruction::Maintainer(i) => &i.maintainer,
        Instruction::Onbuild(i) => &i.onbuild,
        Instruction::Run(i) => &i.run,
        Instruction::Shell(i) => &i.shell,
        Instruction::Stopsignal(i) => &i.stopsignal,
        Instruction::User(i) => &i.user,
        Instruction::Volume(i) => &i.volume,
        Instruction::Workdir(i) => &i.workdir,
        _ => unreachable!("parse-dockerfile's instructions are all above"),
    };
    keyword.span.start
}

fn kind(instruction: &Instruction<'_>) -> Result<Kind, String> {
    Ok(match instruction {
        Instruction::Run(i) => {
            no_flags(&i.options, "RUN")?;
            if !i.here_docs.is_empty() {
                return Err("here-documents need BuildKit; write the commands inline".into());
            }
            Kind::Run(command_form(&i.arguments)?)
        }
        Instruction::Copy(i) => Kind::Copy(copy_spec(false, &i.options, &i.src, &i.dest.value)?),
        Instruction::Add(i) => Kind::Copy(copy_spec(true, &i.options, &i.src, &i.dest.value)?),
        Instruction::Arg(i) => Kind::Arg(arg_decls(&i.arguments.value)?),
        Instruction::Workdir(i) => Kind::Workdir(i.arguments.value.to_string()),
        Instruction::Shell(i) => {
            Kind::Shell(i.arguments.iter().map(|a| a.value.to_string()).collect())
        }
        Instruction::Healthcheck(i) => Kind::Healthcheck(match &i.arguments {
            HealthcheckArguments::Cmd { arguments, .. } => Some(Healthcheck {
                test: match command_form(arguments)? {
                    CommandForm::Exec(words) => [vec!["CMD".to_string()], words].concat(),
                    CommandForm::Shell(text) => vec!["CMD-SHELL".into(), text],
                },
                options: i
                    .options
                    .iter()
                    .map(|f| {
                        let value = f.value.as_ref().map(|v| v.value.to_string());
                        (f.name.value.to_string(), value.unwrap_or_default())
                    })
                    .collect(),
            }),
            _ => None,
        }),
        Instruction::Onbuild(i) => {
            if matches!(
                *i.instruction,
                Instruction::Onbuild(_) | Instruction::From(_) | Instruction::Maintainer(_)
            ) {
                return Err("ONBUILD cannot trigger ONBUILD, FROM or MAINTAINER".into());
            }
            // Its trigger's text is filled in from the step's.
            Kind::Onbuild(String::new())
        }
        Instruction::Maintainer(i) => Kind::Maintainer(i.name.value.to_string()),
        Instruction::Cmd(_) | Instruction::Entrypoint(_) => Kind::Config {
            expand: Expansion::None,
        },
        Instruction::Env(_) | Instruction::Label(_) => Kind::Config {
            expand: Expansion::Pairs,
        },
        Instruction::Expose(_)
        | Instruction::Stopsignal(_)
        | Instruction::User(_)
        | Instruction::Volume(_) => Kind::Config {
            expand: Expansion::Plain,
        },
        Instruction::From(_) => unreachable!("FROM starts a stage"),
        _ => return Err("this instruction is not known to the classic builder".into()),
    })
}

fn command_form(command: &Command<'_>) -> Result<CommandForm, String> {
    match command {
        Command::Exec(words) => Ok(CommandForm::Exec(
            words.value.iter().map(|w| w.value.to_string()).collect(),
        )),
        Command::Shell(text) => Ok(CommandForm::Shell(text.value.to_string())),
        _ => Err("write the command in exec form (a JSON array) or shell form".into()),
    }
}

fn no_flags(flags: &[Flag<'_>], instruction: &str) -> Result<(), String> {
    match flags.first() {
        Some(flag) => Err(format!(
            "{instruction} --{} needs BuildKit; the classic builder takes none",
            flag.name.value
        )),
        None => Ok(()),
    }
}

fn copy_spec(
    add: bool,
    flags: &[Flag<'_>],
    sources: &[Source<'_>],
    dest: &str,
) -> Result<CopySpec, String> {
    let mut spec = CopySpec {
        add,
        sources: Vec::new(),
        dest: dest.to_string(),
        from: None,
        chown: None,
        chmod: None,
    };
    for flag in flags {
        let value = flag.value.as_ref().map(|v| v.value.to_string());
        let slot = match (flag.name.value.as_ref(), add) {
            ("from", false) => &mut spec.from,
            ("chown", _) => &mut spec.chown,
            ("chmod", _) => &mut spec.chmod,
            (other, _) => {
                return Err(format!(
                    "--{other} is not an option of {} here (it takes --chown, --chmod{})",
                    if add { "ADD" } else { "COPY" },
                    if add { "" } else { " and --from" }
                ))
            }
        };
        *slot = Some(value.ok_or_else(|| format!("--{} needs a value", flag.name.value))?);
    }
    for source in sources {
        match source {
            Source::Path(path) => spec.sources.push(path.value.to_string()),
            _ => return Err("here-documents need BuildKit; put the file in the context".into()),
        }
    }
    Ok(spec)
}

/// `NAME[=default] ...`.
fn arg_decls(text: &str) -> Result<Vec<ArgDecl>, String> {
    let words = shlex::split(text).ok_or_else(|| format!("ARG {text}: unbalanced quotes"))?;
    if words.is_empty() {
        return Err("ARG needs a name".into());
    }
    Ok(words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => ArgDecl {
                name: name.to_string(),
                default: Some(value.to_string()),
            },
            None => ArgDecl {
                name: word,
                default: None,
            },
        })
        .collect())
}

/// An ONBUILD's trigger: the text after the keyword.
fn onbuild_trigger(text: &str) -> String {
    text.split_once(char::is_whitespace)
        .map(|(_, rest)| rest.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_steps_and_their_text() {
        let file = parse(
            "ARG BASE=bb\nFROM $BASE AS Build\n# a comment\nRUN echo a \\\n  && echo b\n\
             COPY --from=build --chown=1:2 a b /dst/\nFROM scratch\nCMD [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(file.global_args[0].name, "BASE");
        assert_eq!(file.global_args[0].default.as_deref(), Some("bb"));
        assert_eq!(file.stages.len(), 2);
        let build = &file.stages[0];
        assert_eq!(build.from, "$BASE");
        assert_eq!(build.name.as_deref(), Some("build"));
        assert_eq!(build.from_text, "FROM $BASE AS Build");
        assert_eq!(build.steps[0].text, "RUN echo a && echo b");
        let Kind::Copy(copy) = &build.steps[1].kind else {
            panic!("a COPY")
        };
        assert_eq!(copy.sources, ["a", "b"]);
        assert_eq!(copy.dest, "/dst/");
        assert_eq!(copy.from.as_deref(), Some("build"));
        assert_eq!(copy.chown.as_deref(), Some("1:2"));
        assert!(matches!(
            file.stages[1].steps[0].kind,
            Kind::Config {
                expand: Expansion::None
            }
        ));
    }

    #[test]
    fn what_the_classic_builder_cannot_do_is_refused() {
        for (text, why) in [
            (
                "FROM a\nRUN --mount=type=cache,target=/x true\n",
                "BuildKit",
            ),
            ("FROM a\nADD --from=b x y\n", "not an option of ADD"),
            ("RUN true\n", "Dockerfile"),
        ] {
            let err = parse(text).err().expect(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
