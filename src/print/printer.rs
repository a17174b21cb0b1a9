//! Runs `print.command` on one file: the program and its arguments without a shell, the
//! file's path appended, standard input closed, killed when it outlives its timeout. A
//! failure says what the command wrote on standard error, cut short and stripped of
//! control characters, since it is printed to a terminal or a cron mail.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::config::PrintCommand;

/// How often a running print command is looked at.
const POLL: Duration = Duration::from_millis(20);

/// Prints `path`; `Err` says why not, quoting the command's standard error.
pub fn print_file(command: &PrintCommand, path: &Path, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new(command.program())
        .args(command.arguments())
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("`{command}` could not be started: {error}"))?;
    // Read on a thread so a chatty command cannot fill the pipe and hang.
    let (sender, receiver) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.by_ref().take(64 * 1024).read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "`{command}` did not finish within print.timeout_secs ({} s) and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(error) => break Err(format!("waiting for `{command}` failed: {error}")),
        }
    };
    // A command that left a child holding its standard error must not hold bbship too.
    let stderr = receiver
        .recv_timeout(Duration::from_millis(500))
        // One short printable line: the command's words may hold anything.
        .map(|bytes| crate::text::excerpt(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let with_stderr = |message: String| {
        if stderr.is_empty() {
            message
        } else {
            format!("{message}: {stderr}")
        }
    };
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(with_stderr(format!("`{command}` failed ({status})"))),
        Err(message) => Err(with_stderr(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(parts: &[&str]) -> PrintCommand {
        PrintCommand::try_from(
            parts
                .iter()
                .map(|part| part.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn the_path_is_appended_and_no_shell_reads_it() {
        let temp = tempfile::tempdir().unwrap();
        let out = temp.path().join("out");
        let script = format!("printf '%s' \"$0\" > {}", out.display());
        // `sh -c SCRIPT PATH`: the appended path arrives as $0, untouched by a shell.
        let path = temp.path().join("a b;$(touch pwned).pdf");
        print_file(
            &command(&["sh", "-c", &script]),
            &path,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            path.display().to_string()
        );
        assert!(!Path::new("pwned").exists());
    }

    #[test]
    fn a_failure_quotes_standard_error_without_control_characters() {
        let error = print_file(
            &command(&[
                "sh",
                "-c",
                "printf 'lp: printer\\033[31m on fire\\n' >&2; exit 3",
            ]),
            Path::new("/nonexistent.pdf"),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.ends_with(r"lp: printer\u{1b}[31m on fire"), "{error}");
    }

    #[test]
    fn a_command_past_its_timeout_is_killed() {
        let started = Instant::now();
        let error = print_file(
            &command(&["sh", "-c", "exec sleep 30"]),
            Path::new("x.pdf"),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(error.contains("did not finish"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_says_so() {
        let error = print_file(
            &command(&["/nonexistent/lp"]),
            Path::new("x.pdf"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(error.contains("could not be started"), "{error}");
    }
}
