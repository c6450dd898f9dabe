//! The engine's side of the agent protocol against a fake agent on a
//! Unix socket: typed calls, the agent's errors and their kinds, replies
//! that do not fit, connections that break mid-request, and engine
//! operations on a machine whose agent is the fake. No VM runs.

mod support;

use hutch_engine as engine;

use engine::agent::{AgentClient, AgentError};
use engine::container::ExecOptions;
use engine::events::Quiet;
use engine::machine::state;
use engine::{Engine, ErrorKind, Home};
use protocol::{
    AgentError as Refusal, ContainerInfo, ContainerState, ErrorKind as AgentKind, ExitStatus,
    GuestInfo, LogEntry, Request, Response, StdioStream,
};
use std::io::Write;
use std::sync::Arc;
use support::{FakeAgent, Reply};

fn guest() -> GuestInfo {
    GuestInfo {
        kernel: "Linux 6.1".into(),
        hostname: "fake".into(),
        uptime_ms: 1500,
        cpus: 2,
        memory_bytes: 512 << 20,
    }
}

#[tokio::test]
async fn typed_calls_get_their_replies() {
    let agent = FakeAgent::start("typed", |r| match r {
        Request::Info => Reply::With(Response::Info(guest())),
        Request::ListContainers => Reply::AfterStranger(Response::Containers(Vec::new())),
        _ => Reply::With(Response::Done),
    });
    let mut client = AgentClient::connect(&agent.socket).await.unwrap();
    assert_eq!(client.info().await.unwrap(), guest());
    assert!(
        client.list_containers().await.unwrap().is_empty(),
        "a reply to another request id is skipped"
    );
    client.kill_container("web", 15).await.unwrap();
}

#[tokio::test]
async fn the_agents_errors_keep_their_kind() {
    let agent = FakeAgent::start("refused", |r| {
        let (kind, message) = match r {
            Request::StartContainer { .. } => {
                (AgentKind::NotFound, "nope: executable file not found")
            }
            Request::RemoveContainer { .. } => (AgentKind::NoSuchContainer, "no such container: x"),
            _ => (AgentKind::Conflict, "container web is running"),
        };
        Reply::With(Response::Error(Refusal::new(kind, message)))
    });
    let mut client = AgentClient::connect(&agent.socket).await.unwrap();
    let cases = [
        (
            client.start_container("web", None).await.map(drop),
            ErrorKind::CommandNotFound,
        ),
        (
            client.remove_container("x", false, false).await,
            ErrorKind::NotFound,
        ),
        (client.stop_container("web", 1).await, ErrorKind::Conflict),
    ];
    for (result, kind) in cases {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(matches!(e, AgentError::Refused(_)), "{e:?}");
    }
}

#[tokio::test]
async fn a_reply_that_does_not_fit_is_an_error_not_a_panic() {
    let agent = FakeAgent::start("unexpected", |_| Reply::With(Response::Pong));
    let mut client = AgentClient::connect(&agent.socket).await.unwrap();
    let e = client.info().await.unwrap_err();
    assert!(
        matches!(&e, AgentError::UnexpectedReply { request: "info", reply } if reply.contains("Pong")),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Internal);
}

#[tokio::test]
async fn a_connection_dropped_mid_request_is_reported() {
    let agent = FakeAgent::start("hangup", |r| match r {
        Request::Info => Reply::Hangup,
        _ => Reply::Truncated,
    });
    let mut client = AgentClient::connect(&agent.socket).await.unwrap();
    let e = client.info().await.unwrap_err();
    assert!(matches!(e, AgentError::Closed), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    let mut client = AgentClient::connect(&agent.socket).await.unwrap();
    let e = client.list_containers().await.unwrap_err();
    assert!(matches!(e, AgentError::Frame { .. }), "truncated: {e:?}");
}

#[tokio::test]
async fn unreachable_sockets_and_refused_ports_say_so() {
    let missing = std::env::temp_dir().join("hutch-no-such-socket.sock");
    let e = AgentClient::connect(&missing).await.err().unwrap();
    assert!(matches!(e, AgentError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("hutch-no-such-socket.sock"));

    let agent = FakeAgent::start("ports", |_| Reply::With(Response::Done));
    let e = engine::agent::connect_port(&agent.socket, 1026)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, AgentError::PortRefused { port: 1026 }), "{e:?}");
}

#[tokio::test]
async fn a_version_mismatch_is_refused_at_hello() {
    // A fake that is too old: it answers hello with the agent's refusal.
    let dir = std::env::temp_dir().join(format!("hutch-fake-old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("vsock.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        conn.write_all(b"OK 1024\n").unwrap();
        let hello: protocol::Envelope<Request> =
            protocol::read_frame(&mut reader).unwrap().unwrap();
        let refusal = Refusal::new(
            AgentKind::VersionMismatch,
            "host speaks protocol 5, agent speaks 4",
        );
        let reply = protocol::Envelope {
            id: hello.id,
            body: Response::Error(refusal),
        };
        protocol::write_frame(&mut conn, &reply).unwrap();
    });
    let e = AgentClient::connect(&socket).await.err().unwrap();
    assert!(e.to_string().contains("agent speaks 4"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

/// An engine whose machine `m` "runs": its lock is held and its agent is
/// the fake.
struct FakeMachine {
    engine: Engine,
    agent: FakeAgent,
    _lock: std::fs::File,
}

fn fake_machine(
    test: &str,
    script: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> FakeMachine {
    let root = std::env::temp_dir().join(format!("hutch-fake-home-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let home = Home::at(root.clone(), root.join("guest"));
    let paths = home.machine("m").unwrap();
    std::fs::create_dir_all(&paths.dir).unwrap();
    let lock = state::try_lock(&paths).unwrap().expect("the lock is free");
    let agent = FakeAgent::start_at(&paths.vsock(), root, script);
    FakeMachine {
        engine: Engine::new(home, Arc::new(Quiet)),
        agent,
        _lock: lock,
    }
}

fn container(name: &str, state: ContainerState) -> ContainerInfo {
    ContainerInfo {
        id: format!("{name:0>64}"),
        name: name.into(),
        image: "bb:1".into(),
        command: vec!["sleep".into(), "1".into()],
        state,
        created_ms: 1,
        started_ms: None,
        finished_ms: None,
        exit_code: None,
        oom_killed: false,
        pid: None,
        endpoint: None,
        ports: Vec::new(),
        paused: false,
    }
}

#[tokio::test]
async fn engine_operations_run_against_the_machines_agent() {
    let m = fake_machine("ops", |r| match r {
        Request::ListContainers => Reply::With(Response::Containers(vec![
            container("web", ContainerState::Running),
            container("old", ContainerState::Exited),
        ])),
        Request::WaitContainer { .. } => Reply::With(Response::Exited(ExitStatus::Signal(9))),
        Request::ContainerLogs { offset, .. } => {
            let entry = |text: &str| LogEntry {
                stream: StdioStream::Stdout,
                time_ms: 1,
                log: text.into(),
            };
            // Two chunks, then the end.
            Reply::With(match offset {
                0 => Response::Logs {
                    entries: vec![entry("one\n")],
                    offset: 4,
                    more: true,
                },
                _ => Response::Logs {
                    entries: vec![entry("two\n")],
                    offset: 8,
                    more: false,
                },
            })
        }
        _ => Reply::With(Response::Done),
    });
    let names: Vec<String> = m
        .engine
        .list_containers("m")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["web", "old"]);
    let status = m.engine.wait_container("m", "web").await.unwrap();
    assert_eq!(status.shell_code(), 137);
    let mut logs = m
        .engine
        .container_logs("m", "web", None, true)
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(entries) = logs.next().await.unwrap() {
        text.extend(entries.into_iter().map(|e| e.log));
    }
    assert_eq!(text, "one\ntwo\n");
    drop(m.agent);
}

#[tokio::test]
async fn a_process_attaches_its_streams_before_it_starts() {
    let m = fake_machine("exec", |r| match r {
        Request::Exec(spec) if spec.args == ["missing"] => {
            Reply::With(Response::ExecCreated { exec_id: 8 })
        }
        Request::Exec(_) => Reply::With(Response::ExecCreated { exec_id: 7 }),
        Request::Start { exec_id: 8 } => Reply::With(Response::Error(Refusal::new(
            AgentKind::NotFound,
            "missing: executable file not found",
        ))),
        Request::Start { .. } => Reply::With(Response::Started { pid: 42 }),
        Request::Wait { .. } => Reply::With(Response::Exited(ExitStatus::Code(3))),
        _ => Reply::With(Response::Done),
    });
    let options = ExecOptions {
        args: vec!["echo".into(), "hi".into()],
        stdin: true,
        ..ExecOptions::default()
    };
    let mut process = m.engine.exec_in_machine("m", options).await.unwrap();
    // The fake records a stream once it has read its attach frame.
    let attached = || -> Vec<(u64, StdioStream)> {
        let streams = m.agent.attached.lock().unwrap();
        streams.iter().map(|(id, s, _)| (*id, *s)).collect()
    };
    for _ in 0..500 {
        if attached().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Each stream is its own connection, read by its own task in the
    // fake: all three must be there before the start, in any order.
    let mut attached = attached();
    attached.sort_by_key(|(id, stream)| (*id, *stream as u8));
    assert_eq!(
        attached,
        [
            (7, StdioStream::Stdin),
            (7, StdioStream::Stdout),
            (7, StdioStream::Stderr)
        ]
    );
    assert_eq!(process.start().await.unwrap(), 42);
    assert_eq!(process.wait().await.unwrap(), ExitStatus::Code(3));

    let options = ExecOptions {
        args: vec!["missing".into()],
        ..ExecOptions::default()
    };
    let mut process = m.engine.exec_in_machine("m", options).await.unwrap();
    let e = process.start().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
}

#[tokio::test]
async fn a_machine_that_does_not_run_is_named_with_the_fix() {
    let root = std::env::temp_dir().join(format!("hutch-fake-home-stopped-{}", std::process::id()));
    let engine = Engine::new(Home::at(root.clone(), root.join("guest")), Arc::new(Quiet));
    let e = engine.list_containers("dev").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MachineNotRunning);
    assert!(
        e.to_string()
            .contains("start it with 'hutch machine start --name dev'"),
        "{e}"
    );
}
