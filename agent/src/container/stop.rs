//! A container's end: signals, docker's stop (SIGTERM, then SIGKILL),
//! waiting for the exit, and recording it when the reaper reports it.

use super::cgroup::Cgroup;
use super::record::now_ms;
use super::Container;
use protocol::{
    AgentError, ContainerAction, ContainerEvent, ContainerState, ErrorKind, ExitStatus,
};
use std::time::{Duration, Instant};

impl Container {
    /// Blocks until the container is not running (a created one until it
    /// has run), at most `timeout`; its exit code if it exited.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Option<i32> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut record = self.lock();
        while record.info.state != ContainerState::Exited {
            record = match deadline {
                None => self.changed.wait(record).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(record, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        record.info.exit_code
    }

    pub fn kill(&self, signal: i32) -> Result<(), AgentError> {
        let record = self.lock();
        // The record says its first process runs. The reaper records the
        // exit before reaping it, so under this lock the pid is still that
        // process (or its zombie).
        crate::sys::process::send_signal(record.running_pid()? as i32, signal)
    }

    /// docker's stop: SIGTERM, SIGKILL after `timeout`; returns once exited.
    pub fn stop(&self, timeout: Duration) -> Result<(), AgentError> {
        // Frozen for a copy, it could not act on SIGTERM.
        self.refuse_while_copying()?;
        // A frozen process would not see SIGTERM before the deadline.
        if self.lock().info.paused {
            self.set_paused(false)?;
        }
        if self.kill(libc::SIGTERM).is_err() {
            return Ok(()); // not running: nothing to stop
        }
        if self.wait_exit(Some(timeout)).is_some() {
            return Ok(());
        }
        let _ = self.kill(libc::SIGKILL);
        self.wait_exit(Some(Duration::from_secs(30)))
            .map(|_| ())
            .ok_or_else(|| {
                AgentError::new(
                    ErrorKind::Internal,
                    format!("container {} did not die after SIGKILL", self.info().name),
                )
            })
    }

    /// The reaper's report: the first process is gone, and with it the
    /// rest of the container (its pid namespace dies with it).
    pub fn exited(&self, status: ExitStatus) {
        let mut record = self.lock();
        let cgroup = Cgroup::open(&record.info.id);
        record.info.oom_killed = cgroup.oom_killed();
        cgroup.remove();
        self.unmount_root();
        record.info.state = ContainerState::Exited;
        record.info.paused = false;
        record.info.exit_code = Some(status.shell_code());
        record.info.finished_ms = Some(now_ms());
        record.info.pid = None;
        // Its stdin closes; clients' output streams end as the relays do.
        self.set_console(None);
        // The veth pairs went with the container's network namespace.
        record.info.endpoint = None;
        self.release_networks(&mut record);
        // Its host ports close now: the event tells the monitor which.
        record.info.ports.clear();
        let event = ContainerEvent {
            container: record.info.id.clone(),
            action: ContainerAction::Die,
            lease: record.published.take().map(|p| p.lease),
            exit_code: record.info.exit_code,
        };
        if let Err(e) = record.save(&self.dir) {
            crate::sys::console::log(&format!("container {}: {}", record.info.id, e.message));
        }
        drop(record);
        self.changed.notify_all();
        self.events.publish(event);
    }
}
