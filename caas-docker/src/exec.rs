//! Commands run inside containers (`ContainerRuntime::exec`) through the engine's exec API.
//!
//! The engine attaches to the command over one hijacked connection: standard input goes up
//! it (then its write side is shut, which the engine passes on as end of input), standard
//! output and error come down it multiplexed. A task drives the connection and hands standard
//! output on through a bounded channel, so a slow consumer slows the command down instead of
//! filling memory. Dropping the stream before its end aborts the tasks, which closes the
//! connection: the command's input ends and its output goes nowhere.

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use caas_core::ports::runtime::ByteStream;
use caas_core::{Error, Result};

use crate::error::{SERVICE, is_status, map_err};

/// How much of the command's standard error an error keeps (its end).
const STDERR_TAIL: usize = 2048;

/// How long the input writer may take to finish once the command has exited.
const INPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Chunks of standard output in flight between the connection and the consumer.
const OUTPUT_CHUNKS: usize = 8;

/// Runs `command` in container `id`; see the port's `exec`.
pub(crate) async fn run(
    client: Docker,
    id: &str,
    command: &[String],
    stdin: Option<ByteStream>,
) -> Result<ByteStream> {
    let Some(program) = command.first().cloned() else {
        return Err(Error::invalid("command", "empty: name the program to run"));
    };
    let created = client
        .create_exec(
            id,
            CreateExecOptions::<String> {
                attach_stdin: Some(stdin.is_some()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                cmd: Some(command.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            if is_status(&e, 404) {
                Error::not_found("container", id)
            } else if is_status(&e, 409) {
                Error::conflict(format!(
                    "container '{id}' is not running: commands run only in running containers"
                ))
            } else {
                map_err(e)
            }
        })?;
    let exec_id = created.id;
    let started = client
        .start_exec(
            &exec_id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(map_err)?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Err(Error::backend(
            SERVICE,
            "the engine ran the command detached instead of attaching to it",
        ));
    };
    let feeder = stdin.map(|mut source| {
        tokio::spawn(async move {
            let mut input = input;
            let mut fed = Ok(());
            while let Some(chunk) = source.next().await {
                let written = match chunk {
                    Ok(chunk) => input.write_all(&chunk).await.map_err(|e| {
                        Error::backend_source(SERVICE, "writing the command's input", e)
                    }),
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    fed = Err(e);
                    break;
                }
            }
            // Close the input also when the source failed: the command then sees its input
            // end early (and fails, or rolls back what it had begun) instead of waiting for
            // more forever.
            let closed = input
                .shutdown()
                .await
                .map_err(|e| Error::backend_source(SERVICE, "closing the command's input", e));
            fed.and(closed)
        })
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(OUTPUT_CHUNKS);
    let mut tasks = Vec::new();
    if let Some(f) = &feeder {
        tasks.push(f.abort_handle());
    }
    let driver = tokio::spawn(async move {
        let mut stderr: Vec<u8> = Vec::new();
        while let Some(item) = output.next().await {
            match item {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    stderr.extend_from_slice(&message);
                    if stderr.len() > 2 * STDERR_TAIL {
                        stderr.drain(..stderr.len() - STDERR_TAIL);
                    }
                }
                Ok(out) => {
                    if tx.send(Ok(out.into_bytes())).await.is_err() {
                        // The consumer is gone (its guard stops the writer too).
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(map_err(e))).await;
                    return;
                }
            }
        }
        // The exit status says most about a failure; then whether all the input went in
        // (a command may exit 0 without reading it all, and psql exits 0 at an early end of
        // input, having rolled back).
        let mut outcome = exit_status(&client, &exec_id, &program, &stderr).await;
        if let (Ok(()), Some(mut feeder)) = (&outcome, feeder) {
            // The engine closes the connection when the command ends, so a writer still
            // busy fails soon; one that does not is stopped.
            outcome = match tokio::time::timeout(INPUT_GRACE, &mut feeder).await {
                Ok(Ok(fed)) => fed,
                Ok(Err(e)) => Err(Error::backend(
                    SERVICE,
                    format!("the input writer stopped: {e}"),
                )),
                Err(_) => {
                    feeder.abort();
                    Err(Error::backend(
                        SERVICE,
                        format!("`{program}` exited before reading all of its input"),
                    ))
                }
            };
        }
        if let Err(e) = outcome {
            let _ = tx.send(Err(e)).await;
        }
    });
    tasks.push(driver.abort_handle());
    // Dropping the stream before its end stops both tasks, which closes the connection: the
    // command's input ends and its output goes nowhere.
    let guard = Abandon(tasks);
    Ok(
        futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|item| (item, (rx, guard)))
        })
        .boxed(),
    )
}

/// Aborts the tasks behind an exec stream when the stream is dropped.
struct Abandon(Vec<tokio::task::AbortHandle>);

impl Drop for Abandon {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// `Ok` when the command exited with status 0; a `Backend` error naming the status and the
/// end of standard error otherwise.
async fn exit_status(client: &Docker, exec_id: &str, program: &str, stderr: &[u8]) -> Result<()> {
    // The output ends when the process does; the engine records the status a moment later.
    for _ in 0..100 {
        let inspected = client.inspect_exec(exec_id).await.map_err(map_err)?;
        if inspected.running == Some(true) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        return match inspected.exit_code {
            Some(0) => Ok(()),
            code => {
                let start = stderr.len().saturating_sub(STDERR_TAIL);
                let tail = String::from_utf8_lossy(&stderr[start..]);
                let status = code.map_or_else(|| "unknown".to_string(), |c| c.to_string());
                Err(Error::backend(
                    SERVICE,
                    format!(
                        "`{program}` exited with status {status}: {}",
                        tail.trim().replace('\n', " / ")
                    ),
                ))
            }
        };
    }
    // Whether it succeeded is not known.
    Err(Error::unavailable(
        SERVICE,
        format!("`{program}` closed its output but the engine still reports it running"),
    ))
}
