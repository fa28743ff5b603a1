//! The local alert log: every alert this node commits, as one JSON line (StreamAlert's
//! `output_dict` shape) on stdout and appended to `<data dir>/alerts.jsonl`. It is what the
//! embedded default shows a newcomer, and a record an operator can grep.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use sa_rules::Alert;

pub struct AlertLog {
    file: Mutex<File>,
    stdout: bool,
}

impl AlertLog {
    pub fn open(path: &Path, stdout: bool) -> anyhow::Result<AlertLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the alert log {}: {e}", path.display()))?;
        Ok(AlertLog {
            file: Mutex::new(file),
            stdout,
        })
    }

    /// Best effort: the alert is already committed; a full disk must not fail the batch.
    pub fn write(&self, alert: &Alert) {
        let mut line = alert.output_dict().to_string();
        line.push('\n');
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes()).and_then(|_| out.flush());
        }
        let mut file = self.file.lock().expect("alert log lock");
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "cannot append to the alert log");
        }
    }
}
