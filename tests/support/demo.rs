//! Test support: the demo kernel (`examples/kernel.rs`, built by `cargo test`)
//! as a child process on a free loopback port, its stdout lines on a channel.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/kernel`.
pub fn kernel_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join("kernel")
}

/// A running demo kernel whose stdout lines arrive on a channel.
pub struct Demo {
    pub child: Child,
    pub lines: Receiver<String>,
    pub addr: SocketAddr,
}

impl Demo {
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Demo {
        let mut command = Command::new(kernel_binary());
        command
            .current_dir(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars() {
            if key.starts_with("AUREUS_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("demo kernel (built by cargo test)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child,
            lines,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = demo.wait_for_line("LISTENING ", Duration::from_secs(30));
        demo.addr = listening.parse().unwrap();
        demo
    }

    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(err) => panic!("no line starting with {prefix:?}: {err}"),
            }
        }
    }

    pub fn terminate(mut self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "demo exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "demo did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
