//! The SQL tables registered beside `samples` in every query, each only when its folder exists:
//! `waveforms` ([`crate::waveform`], `historian/waveforms`) and `samples_rollup`
//! ([`crate::retention`], `historian/rollups`).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::context::SessionContext;

use crate::{AtRest, Error, Result};

/// Register the extra tables of the historian whose `samples` folder is `samples`.
pub(crate) fn register_extra(ctx: &SessionContext, samples: &Path, at_rest: &AtRest) -> Result<()> {
    let Some(historian) = samples.parent() else { return Ok(()) };
    let tables = [
        ("waveforms", historian.join("waveforms"), crate::waveform::waveform_schema()),
        ("samples_rollup", historian.join("rollups"), crate::retention::rollup_schema()),
    ];
    for (name, dir, schema) in tables {
        if dir.is_dir() {
            register(ctx, name, &dir, schema, at_rest)?;
        }
    }
    Ok(())
}

/// Register a listing table over every `*.parquet` file in the `key=value` folders below `dir`.
pub(crate) fn register(ctx: &SessionContext, name: &str, dir: &Path, schema: SchemaRef, at_rest: &AtRest) -> Result<()> {
    let url = url::Url::from_directory_path(dir).map_err(|()| Error::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an absolute path"),
    })?;
    let url = ListingTableUrl::try_new(url, None)?;
    let listing = ListingOptions::new(Arc::new(at_rest.format())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(listing).with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}
