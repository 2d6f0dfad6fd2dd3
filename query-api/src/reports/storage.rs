//! Where report files are kept: a local directory by default, an
//! S3-compatible bucket when configured, both behind `object_store`'s
//! interface. Files are uploaded from the worker's scratch directory in
//! parts (bounded memory whatever their size) and read back as a stream.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

/// Bytes read from a file at a time while uploading.
const CHUNK: usize = 1 << 20;

/// Where files go, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory (created when missing).
    Directory(std::path::PathBuf),
    /// `s3://BUCKET[/PREFIX]`, with the AWS_* environment variables
    /// (`AWS_ENDPOINT` for S3-compatible servers, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`).
    S3 { bucket: String, prefix: String },
}

impl StoreLocation {
    /// `s3://bucket/prefix` or a directory path.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("{value:?}: name the bucket, s3://BUCKET[/PREFIX]"));
                }
                Ok(StoreLocation::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
            None if value.contains("://") => Err(format!(
                "{value:?}: give a directory or s3://BUCKET[/PREFIX]"
            )),
            None => Ok(StoreLocation::Directory(value.into())),
        }
    }
}

/// The file store.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    location: StoreLocation,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A failed store operation.
pub type StoreError = object_store::Error;

impl FileStore {
    /// Open the store at `location`.
    pub fn open(location: &StoreLocation) -> Result<Self, String> {
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match location {
            StoreLocation::Directory(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("report files directory {}: {e}", dir.display()))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| format!("report files directory {}: {e}", dir.display()))?;
                (Arc::new(fs), String::new())
            }
            StoreLocation::S3 { bucket, prefix } => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
                (Arc::new(s3), prefix.clone())
            }
        };
        Ok(FileStore {
            store,
            prefix,
            location: location.clone(),
        })
    }

    fn path(&self, key: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(key)
        } else {
            StorePath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Upload a local file under `key`, in parts; returns its size.
    pub async fn upload(&self, key: &str, file: &Path) -> Result<u64, StoreError> {
        let mut source = tokio::fs::File::open(file)
            .await
            .map_err(|e| local_error(file, e))?;
        let upload = self.store.put_multipart(&self.path(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK * 5);
        let mut buffer = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = source
                .read(&mut buffer)
                .await
                .map_err(|e| local_error(file, e))?;
            if n == 0 {
                break;
            }
            // Waits while too many parts are in flight (bounded memory).
            writer.wait_for_capacity(2).await?;
            writer.write(&buffer[..n]);
            size += n as u64;
        }
        writer.finish().await?;
        Ok(size)
    }

    /// The bytes of `key`, as they are read.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let got = self.store.get(&self.path(key)).await?;
        Ok(got.into_stream().boxed())
    }

    /// The whole of `key` (for e-mail attachments under the size limit).
    pub async fn read_all(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let chunks: Vec<Bytes> = self.read(key).await?.try_collect().await?;
        Ok(chunks.concat())
    }

    /// Remove `key`; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Remove everything under `prefix` except `keep` (the files of a
    /// run's earlier, abandoned attempts).
    pub async fn delete_prefix_except(
        &self,
        prefix: &str,
        keep: &[String],
    ) -> Result<usize, StoreError> {
        let keep: Vec<StorePath> = keep.iter().map(|k| self.path(k)).collect();
        let listed: Vec<_> = self
            .store
            .list(Some(&self.path(prefix)))
            .try_collect()
            .await?;
        let mut removed = 0;
        for meta in listed {
            if !keep.contains(&meta.location) {
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}

fn local_error(file: &Path, e: std::io::Error) -> StoreError {
    object_store::Error::Generic {
        store: "scratch",
        source: format!("{}: {e}", file.display()).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            StoreLocation::parse("s3://bucket/a/b/").unwrap(),
            StoreLocation::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("/var/lib/reports").unwrap(),
            StoreLocation::Directory("/var/lib/reports".into())
        );
        assert!(StoreLocation::parse("s3://").is_err());
        assert!(StoreLocation::parse("gs://bucket").is_err());
    }

    #[tokio::test]
    async fn files_round_trip_in_a_directory() {
        let dir = std::env::temp_dir().join(format!("filestore-{}", std::process::id()));
        let store = FileStore::open(&StoreLocation::Directory(dir.join("store"))).unwrap();
        let local = dir.join("local.bin");
        // Larger than one upload chunk, to cross part boundaries.
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&local, &data).unwrap();
        let size = store.upload("t/run/1/report.bin", &local).await.unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(store.read_all("t/run/1/report.bin").await.unwrap(), data);
        store.upload("t/run/2/report.bin", &local).await.unwrap();
        let removed = store
            .delete_prefix_except("t/run", &["t/run/2/report.bin".to_owned()])
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(store.read_all("t/run/1/report.bin").await.is_err());
        store.delete("t/run/2/report.bin").await.unwrap();
        store.delete("t/run/2/report.bin").await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
