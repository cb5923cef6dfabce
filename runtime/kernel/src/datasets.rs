//! The human's hand-over of datasets to a run (`kiln run … --data DIR`, `kiln goal … --data
//! DIR`): the JSON files of DIR, read once through a read-only directory handle when the run
//! starts — each checked to be JSON and within the size limit — and named by their stems
//! (`orders.json` → `orders`). They are the run's input: an agent's plan reaches them only
//! through `planner.dataset` and `planner.decompose`, by name, never by a path of its choosing,
//! and reading them is no effect.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use rtfs::Value;

use crate::error::{KernelError, Result};

/// The most JSON text one dataset may hold.
pub const MAX_DATASET_BYTES: u64 = 32 << 20;

/// Datasets by name.
#[derive(Clone, Debug, Default)]
pub struct Datasets {
    files: BTreeMap<String, String>,
}

impl Datasets {
    /// No datasets (a run without `--data`).
    pub fn none() -> Datasets {
        Datasets::default()
    }

    /// Reads every `*.json` file of `dir`; each larger than `max_bytes` is refused.
    pub fn load(dir: &Path, max_bytes: u64) -> Result<Datasets> {
        let handle = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
            .map_err(|e| {
                KernelError::invalid(format!(
                    "--data {}: cannot open the directory ({e}); give a directory of JSON files",
                    dir.display()
                ))
            })?;
        let mut files = BTreeMap::new();
        let entries = handle
            .entries()
            .map_err(|e| KernelError::invalid(format!("--data {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| KernelError::invalid(format!("--data {}: {e}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let file_type = entry
                .file_type()
                .map_err(|e| KernelError::invalid(format!("{name}: {e}")))?;
            if !file_type.is_file() {
                continue;
            }
            let at = dir.join(&name);
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if size > max_bytes {
                return Err(KernelError::invalid(format!(
                    "{}: {size} bytes is more than a dataset may hold ({max_bytes}); hand over a smaller file",
                    at.display()
                )));
            }
            let mut text = String::new();
            entry
                .open()
                .and_then(|mut f| f.by_ref().take(max_bytes + 1).read_to_string(&mut text))
                .map_err(|e| {
                    KernelError::invalid(format!("{}: cannot read it ({e})", at.display()))
                })?;
            if let Err(e) = serde_json_check(&text) {
                return Err(KernelError::invalid(format!(
                    "{}: not JSON: {e}",
                    at.display()
                )));
            }
            files.insert(stem.to_string(), text);
        }
        if files.is_empty() {
            return Err(KernelError::invalid(format!(
                "--data {}: the directory holds no .json files",
                dir.display()
            )));
        }
        Ok(Datasets { files })
    }

    /// The names handed over.
    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// Whether none were handed over.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Dataset `name` as RTFS data (objects' keys as keywords).
    pub fn value(&self, name: &str) -> Result<Value> {
        let text = self.files.get(name).ok_or_else(|| {
            KernelError::invalid(format!(
                "no dataset {name:?} was handed to this run (it has: {})",
                if self.files.is_empty() {
                    "none; give the run --data DIR".to_string()
                } else {
                    self.names().join(", ")
                }
            ))
        })?;
        kiln_planner::dataset::from_json(text, 64)
            .map_err(|e| KernelError::invalid(format!("{name}.json: {e}")))
    }

    /// Every dataset, for the planner.
    pub fn all(&self) -> Result<Vec<kiln_planner::dataset::Dataset>> {
        self.files
            .keys()
            .map(|name| {
                let v = self.value(name)?;
                kiln_planner::dataset::Dataset::new(name, &v)
                    .map_err(|e| KernelError::invalid(format!("{name}.json: {e}")))
            })
            .collect()
    }
}

/// Whether `text` is JSON (with where it is not), without building values.
fn serde_json_check(text: &str) -> std::result::Result<(), String> {
    rtfs::stdlib::json_to_value(text, 64)
        .map(|_| ())
        .map_err(|e| e.message().to_string())
}
