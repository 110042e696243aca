//! The object-store mirror of a historian: committed Parquet files copied, under the same relative
//! paths, to any store the `object_store` crate reaches — a local directory by default
//! (`file:///srv/fos-central`), S3-compatible storage with the `s3` cargo feature
//! (`s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*` environment variables).
//!
//! Files are immutable once committed, so a copy is idempotent: a crash in the middle of a sync
//! re-uploads at most the files it had not finished (an object store's `put` is atomic). The
//! mirror holds only committed files (`*.parquet`, never `.pending`), so a query over it sees
//! whole commits or older state, never a torn one.
//!
//! [`query_store`] runs the same read-only SQL as [`crate::Historian::query`] over the mirror.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::context::{SQLOptions, SessionContext};
use futures_util::TryStreamExt as _;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};

use crate::{Error, Result};

/// A mirror target: the store, its URL and the key prefix under which `historian/...` goes.
#[derive(Debug)]
pub struct Mirror {
    store: Arc<dyn ObjectStore>,
    url: url::Url,
    prefix: ObjPath,
    uploaded: HashSet<String>,
    runtime: tokio::runtime::Runtime,
}

/// What [`Mirror::sync`] copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Files copied.
    pub files: usize,
    /// Bytes copied.
    pub bytes: u64,
}

fn store_error(url: &url::Url, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("object store {url}: {e}"))
}

/// Parses `url` into a store and a key prefix. `file:///abs/dir` or a plain absolute path: a
/// local directory (created if missing); `s3://bucket/prefix`: S3 (feature `s3`).
pub(crate) fn open_store(url: &str) -> Result<(Arc<dyn ObjectStore>, url::Url, ObjPath)> {
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(_) if Path::new(url).is_absolute() => url::Url::from_directory_path(url)
            .map_err(|()| Error::Invalid(format!("object store {url:?}: not a usable directory path")))?,
        Err(e) => {
            return Err(Error::Invalid(format!(
                "object store {url:?}: not a URL ({e}); use file:///ABSOLUTE/DIR or s3://BUCKET/PREFIX"
            )))
        }
    };
    match parsed.scheme() {
        "file" => {
            let dir = PathBuf::from(parsed.path());
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| store_error(&parsed, e))?;
            let base = url::Url::from_directory_path(&dir).map_err(|()| store_error(&parsed, "not absolute"))?;
            Ok((Arc::new(store), base, ObjPath::default()))
        }
        #[cfg(feature = "s3")]
        "s3" => {
            let bucket = parsed.host_str().ok_or_else(|| store_error(&parsed, "no bucket"))?.to_owned();
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .build()
                .map_err(|e| store_error(&parsed, e))?;
            let prefix = ObjPath::from(parsed.path().trim_matches('/'));
            Ok((Arc::new(store), parsed, prefix))
        }
        other => Err(Error::Invalid(format!(
            "object store {url:?}: scheme {other:?} is not supported by this build (file{})",
            if cfg!(feature = "s3") { ", s3" } else { "; s3 needs the `s3` cargo feature" }
        ))),
    }
}

impl Mirror {
    /// Opens the mirror at `url` and lists what it already holds (one listing).
    pub fn open(url: &str) -> Result<Mirror> {
        let (store, url, prefix) = open_store(url)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        let listed: Vec<object_store::ObjectMeta> = runtime
            .block_on(store.list(Some(&prefix)).try_collect())
            .map_err(|e| store_error(&url, e))?;
        let uploaded = listed
            .into_iter()
            .map(|m| {
                let key = m.location.as_ref().strip_prefix(prefix.as_ref()).unwrap_or(m.location.as_ref());
                key.trim_start_matches('/').to_owned()
            })
            .collect();
        Ok(Mirror { store, url, prefix, uploaded, runtime })
    }

    /// The store's URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Copies every committed `*.parquet` file under `data_dir/historian/` that the mirror does not
    /// hold yet. Call after a commit.
    pub fn sync(&mut self, data_dir: &Path) -> Result<SyncReport> {
        let root = data_dir.join("historian");
        let mut report = SyncReport::default();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Io { path: dir, source }),
            };
            for entry in entries {
                let path = entry.map_err(|source| Error::Io { path: dir.clone(), source })?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "parquet") {
                    continue;
                }
                let rel = path.strip_prefix(data_dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if self.uploaded.contains(&rel) {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
                let key = if self.prefix.as_ref().is_empty() {
                    ObjPath::from(rel.as_str())
                } else {
                    ObjPath::from(format!("{}/{rel}", self.prefix.as_ref()))
                };
                let n = bytes.len() as u64;
                self.runtime
                    .block_on(self.store.put(&key, PutPayload::from(bytes)))
                    .map_err(|e| store_error(&self.url, format!("put {key}: {e}")))?;
                self.uploaded.insert(rel);
                report.files += 1;
                report.bytes += n;
            }
        }
        Ok(report)
    }
}

/// Runs one read-only SQL statement over the table `samples(time, tag, value, quality)` of the
/// historian mirrored at `url` (as [`Mirror`] writes it); `at_rest` as for the historian it mirrors.
pub fn query_store(
    url: &str,
    sql: &str,
    at_rest: &crate::AtRest,
) -> Result<(datafusion::arrow::datatypes::SchemaRef, Vec<RecordBatch>)> {
    let (store, base, prefix) = open_store(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        let samples = if base.scheme() == "file" {
            // DataFusion's own local store reads absolute paths.
            base.join("historian/samples/").map_err(|e| store_error(&base, e))?
        } else {
            let mut root = base.clone();
            root.set_path("/");
            ctx.register_object_store(&root, store);
            let key = if prefix.as_ref().is_empty() { String::new() } else { format!("{}/", prefix.as_ref()) };
            root.join(&format!("{key}historian/samples/")).map_err(|e| store_error(&base, e))?
        };
        let listing = ListingOptions::new(Arc::new(at_rest.format())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(ListingTableUrl::try_new(samples, None)?)
            .with_listing_options(listing)
            .with_schema(crate::schema());
        ctx.register_table("samples", Arc::new(ListingTable::try_new(config)?))?;
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = ctx.sql_with_options(sql, read_only).await?;
        let schema: datafusion::arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
        Ok((schema, df.collect().await?))
    })
}
