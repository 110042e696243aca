//! The site behind `fos users`, `fos gate`, `fos findings` and `fos audit`: the flags every such command
//! shares, and the glue to `fos-site`, which holds the data directory's layout and every operation (see
//! that crate's documentation for `DIR/ledger/`, `DIR/keys/`, the lock and the order of effects).
//!
//! A command acting as a person takes `--user NAME` with the password in `FOS_PASSWORD`; it is
//! authenticated once ([`authenticate`]) and the operation gets the authenticated user, never the
//! password.

use std::path::Path;

use anyhow::{anyhow, Result};
use fos_site::{AuthenticatedUser, Site};

/// The default data directory of every command.
pub(crate) const DEFAULT_DATA_DIR: &str = "fos-data";

/// The environment variable holding the acting user's password.
pub(crate) const PASSWORD_ENV: &str = "FOS_PASSWORD";

/// Opens the site in `data` (`create`: make its keys and ledger on first use), printing what the ledger
/// recovered on open as a warning.
pub(crate) fn open(data: &Path, create: bool) -> Result<Site> {
    let site = Site::open(data, create)?;
    for w in site.take_warnings() {
        eprintln!("warning: {w}");
    }
    Ok(site)
}

/// The acting user: `name`, authenticated with the password in `FOS_PASSWORD`.
pub(crate) fn authenticate(site: &Site, name: &str) -> Result<AuthenticatedUser> {
    let password = std::env::var(PASSWORD_ENV)
        .map_err(|_| anyhow!("set {PASSWORD_ENV} to the password of user {name} (--user {name})"))?;
    Ok(site.authenticate(name, &password)?)
}
