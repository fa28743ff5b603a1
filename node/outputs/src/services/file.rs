//! `file` appends each publication as one JSON line to the path in outputs.json; `stdout`
//! prints it. Both serve local runs and tests.

use std::io::Write;

use tokio::io::AsyncWriteExt;

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const FILE_SERVICE: &str = "file";

pub(crate) const FILE: OutputSpec = OutputSpec {
    name: FILE_SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("path of the JSON-lines file alerts are appended to"),
    deliver: |out, _, d| Box::pin(deliver_file(out, d)),
};

pub(crate) const STDOUT: OutputSpec = OutputSpec {
    name: "stdout",
    properties: &[],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |_, _, d| Box::pin(async move { deliver_stdout(d) }),
};

fn line(d: &Delivery<'_>) -> Step<Vec<u8>> {
    let mut line = serde_json::to_vec(d.publication)
        .map_err(|e| DeliveryOutcome::failed(format!("cannot encode the publication: {e}")))?;
    line.push(b'\n');
    Ok(line)
}

async fn deliver_file(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let path = d.require_resource(FILE_SERVICE)?;
    let line = line(d)?;
    let _one_writer = out.lock_file_appends().await;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot open {path}: {e}")))?;
    file.write_all(&line)
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot append to {path}: {e}")))?;
    file.flush()
        .await
        .map_err(|e| DeliveryOutcome::retry(format!("file: cannot append to {path}: {e}")))?;
    Ok(())
}

fn deliver_stdout(d: &Delivery<'_>) -> Step<()> {
    let line = line(d)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&line)
        .and_then(|()| stdout.flush())
        .map_err(|e| DeliveryOutcome::retry(format!("stdout: {e}")))
}
