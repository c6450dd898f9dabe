//! ADD's URL sources, fetched on the host into hutch's home for the build
//! (where docker's daemon fetches them too). As with docker's classic
//! builder they are fetched on every build, and their content keys the
//! cache; the file is removed when the build ends.

use crate::image::ImageError;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// How long a server may keep us waiting for its next byte.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A fetched file, removed when dropped.
pub struct Download {
    pub path: PathBuf,
    /// The URL path's last component: the file's name in the image.
    pub name: String,
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The URL path's last component.
fn file_name(url: &reqwest::Url) -> Option<String> {
    let name = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    Some(name.to_string())
}

/// Fetches `url` into a file named `local` in `dir`, mode 0600 as
/// docker gives it.
pub async fn fetch(url: &str, dir: &Path, local: &str) -> Result<Download, ImageError> {
    let bad = |why: String| ImageError::Invalid(format!("ADD {url}: {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let name = file_name(&parsed)
        .ok_or_else(|| bad("the URL names no file; end it with the file's name".into()))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("hutch/", env!("CARGO_PKG_VERSION")))
        // A server that stops sending fails the step rather than hanging it.
        .connect_timeout(STALL_LIMIT)
        .read_timeout(STALL_LIMIT)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| bad(format!("cannot fetch it: {e}")))?;
    if !response.status().is_success() {
        return Err(bad(format!("the server answered {}", response.status())));
    }
    std::fs::create_dir_all(dir).map_err(ImageError::io(format!("creating {}", dir.display())))?;
    let download = Download {
        path: dir.join(local),
        name,
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&download.path)
        .await
        .map_err(ImageError::io(format!(
            "creating {}",
            download.path.display()
        )))?;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| bad(format!("fetching it: {e}")))?
    {
        file.write_all(&chunk)
            .await
            .map_err(ImageError::io(format!(
                "writing {}",
                download.path.display()
            )))?;
    }
    file.flush().await.map_err(ImageError::io(format!(
        "writing {}",
        download.path.display()
    )))?;
    Ok(download)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_after_the_urls_path() {
        let name = |url: &str| file_name(&reqwest::Url::parse(url).unwrap());
        assert_eq!(name("http://h/a/b.tar.gz?x=1").as_deref(), Some("b.tar.gz"));
        assert_eq!(name("https://h/dir/").as_deref(), Some("dir"));
        assert_eq!(name("https://h/"), None);
    }
}
