//! Image datasets for architecture search: readers for the IDX files of MNIST and Fashion-MNIST
//! (gzip or raw) and the CSV of the 8x8 digits, with fixed train/validation/test splits.
//!
//! Every reader checks what it reads: a wrong magic number, a header that promises more bytes
//! than the file holds, labels out of range or image and label counts that differ are errors
//! naming the file and the problem, never a panic or a silently short dataset.
//!
//! Splits are fixed so that results compare across runs and methods: MNIST-like sets keep the
//! last 10,000 training images as validation and the official test set as test; digits (1,797
//! rows, no official split) are shuffled once with a fixed seed into 1,197 / 300 / 300.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};

/// A set of labelled images, stored as normalised `f32` pixels (zero mean, unit variance over
/// the training split) in channel-height-width order.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// Pixels, `len * channels * height * width`.
    pub pixels: Vec<f32>,
    /// One label per image, `0..classes`.
    pub labels: Vec<u8>,
    /// Channels per image (1 for the grey-scale sets here).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image: channels x height x width.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
            labels.push(self.labels[i]);
        }
        ImageSet {
            pixels,
            labels,
            ..self.shape_only()
        }
    }

    /// The first `n` images (all of them when there are fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        self.subset(&(0..n).collect::<Vec<_>>())
    }

    fn shape_only(&self) -> ImageSet {
        ImageSet {
            pixels: Vec::new(),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: self.classes,
        }
    }

    /// A batch as tensors: images `[n, channels, height, width]` and labels `[n]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
            labels.push(self.labels[i] as i64);
        }
        let n = indices.len();
        let images = Tensor::<4>::from_data(
            TensorData::new(pixels, [n, self.channels, self.height, self.width]),
            device,
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
        (images, labels)
    }

    /// Batches of `size` indices covering the set once, shuffled with `rng` when given.
    pub fn batches(
        &self,
        size: usize,
        rng: Option<&mut rand_chacha::ChaCha8Rng>,
    ) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(rng) = rng {
            order.shuffle(rng);
        }
        order.chunks(size.max(1)).map(|c| c.to_vec()).collect()
    }
}

/// Training, validation and test images of one dataset.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training split (fits weights).
    pub train: ImageSet,
    /// Validation split (architecture parameters, model selection).
    pub valid: ImageSet,
    /// Test split (reported once, at the end).
    pub test: ImageSet,
}

impl Splits {
    /// Keeps at most `train`, `valid` and `test` images of each split (the first ones, which
    /// are in the files' order), for quick runs and tests.
    pub fn truncate(self, train: usize, valid: usize, test: usize) -> Splits {
        Splits {
            train: self.train.take(train),
            valid: self.valid.take(valid),
            test: self.test.take(test),
        }
    }
}

/// The datasets tuneforge reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// MNIST handwritten digits, 28x28 (LeCun et al. 1998).
    Mnist,
    /// Fashion-MNIST clothing images, 28x28 (Xiao et al. 2017).
    FashionMnist,
    /// scikit-learn's 8x8 digits (1,797 images).
    Digits,
}

impl Dataset {
    /// Parses `mnist`, `fashion-mnist` or `digits`.
    pub fn parse(name: &str) -> Result<Dataset> {
        match name {
            "mnist" => Ok(Dataset::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashion" => Ok(Dataset::FashionMnist),
            "digits" => Ok(Dataset::Digits),
            other => Err(Error::Config(format!(
                "unknown dataset '{other}' (expected mnist, fashion-mnist or digits)"
            ))),
        }
    }

    /// The dataset's folder name (under a data directory or /usr/share/datasets).
    pub fn folder(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Digits => "digits",
        }
    }

    /// Finds the dataset's folder: `data_dir/<folder>` or `data_dir` itself when given, else
    /// the Debian location `/usr/share/datasets/<folder>`.
    pub fn locate(self, data_dir: Option<&Path>) -> Result<PathBuf> {
        let mut tried = Vec::new();
        let candidates: Vec<PathBuf> = match data_dir {
            Some(dir) => vec![dir.join(self.folder()), dir.to_path_buf()],
            None => vec![Path::new("/usr/share/datasets").join(self.folder())],
        };
        for dir in candidates {
            if self.files_in(&dir).is_ok() {
                return Ok(dir);
            }
            tried.push(dir.display().to_string());
        }
        Err(Error::Data {
            path: tried.join(", "),
            message: format!(
                "no {} files found (pass --data-dir, or install the Debian dataset package)",
                self.folder()
            ),
        })
    }

    /// The files of the dataset in `dir` (train images, train labels, test images, test labels;
    /// one CSV for digits).
    fn files_in(self, dir: &Path) -> Result<Vec<PathBuf>> {
        let find = |stems: &[&str]| -> Result<PathBuf> {
            for stem in stems {
                for ext in ["", ".gz"] {
                    let p = dir.join(format!("{stem}{ext}"));
                    if p.is_file() {
                        return Ok(p);
                    }
                }
            }
            Err(Error::Data {
                path: dir.join(stems[0]).display().to_string(),
                message: "missing".into(),
            })
        };
        match self {
            Dataset::Digits => Ok(vec![find(&["digits.csv"])?]),
            _ => {
                let idx = |set: &str, kind: &str, rank: u8| {
                    find(&[
                        &format!("{set}-{kind}-idx{rank}-ubyte"),
                        &format!("{set}-{kind}.idx{rank}-ubyte"),
                    ])
                };
                Ok(vec![
                    idx("train", "images", 3)?,
                    idx("train", "labels", 1)?,
                    idx("t10k", "images", 3)?,
                    idx("t10k", "labels", 1)?,
                ])
            }
        }
    }

    /// Loads the dataset's fixed splits from `data_dir` (see [`Dataset::locate`]).
    pub fn load(self, data_dir: Option<&Path>) -> Result<Splits> {
        let dir = self.locate(data_dir)?;
        let files = self.files_in(&dir)?;
        match self {
            Dataset::Digits => load_digits(&files[0]),
            _ => {
                let train = read_idx_images(&files[0])?;
                let train_labels = read_idx_labels(&files[1], 10)?;
                let test = read_idx_images(&files[2])?;
                let test_labels = read_idx_labels(&files[3], 10)?;
                let train = pair(train, train_labels, &files[0], &files[1])?;
                let test = pair(test, test_labels, &files[2], &files[3])?;
                let valid_len = 10_000.min(train.len() / 6);
                let cut = train.len() - valid_len;
                let valid = train.subset(&(cut..train.len()).collect::<Vec<_>>());
                let train = train.take(cut);
                Ok(normalise(Splits { train, valid, test }))
            }
        }
    }
}

/// Raw images read from an IDX file: pixels in 0..=255.
struct RawImages {
    pixels: Vec<u8>,
    count: usize,
    height: usize,
    width: usize,
}

fn read_all(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Data {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Data {
                path: path.display().to_string(),
                message: format!("not a valid gzip file ({e}); the download may be truncated"),
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> usize {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
}

/// Reads the header of an IDX file of unsigned bytes with `rank` dimensions and checks the
/// payload length; returns the dimensions and the payload.
fn read_idx(path: &Path, rank: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read_all(path)?;
    let bad = |message: String| Error::Data {
        path: path.display().to_string(),
        message,
    };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "truncated: {} bytes, shorter than the {header}-byte IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] as usize != rank {
        return Err(bad(format!(
            "not an IDX file of unsigned bytes with {rank} dimension(s) (magic {:02x}{:02x}{:02x}{:02x})",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    let dims: Vec<usize> = (0..rank).map(|i| be_u32(&bytes, 4 + 4 * i)).collect();
    let expected: usize = dims.iter().product();
    let found = bytes.len() - header;
    if found != expected {
        return Err(bad(format!(
            "{}: the header promises {expected} bytes of data ({dims:?}), the file holds {found}",
            if found < expected {
                "truncated"
            } else {
                "trailing bytes"
            }
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

fn read_idx_images(path: &Path) -> Result<RawImages> {
    let (dims, pixels) = read_idx(path, 3)?;
    Ok(RawImages {
        pixels,
        count: dims[0],
        height: dims[1],
        width: dims[2],
    })
}

fn read_idx_labels(path: &Path, classes: u8) -> Result<Vec<u8>> {
    let (_, labels) = read_idx(path, 1)?;
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l >= classes) {
        return Err(Error::Data {
            path: path.display().to_string(),
            message: format!("label {l} at position {i} is not below {classes}"),
        });
    }
    Ok(labels)
}

fn pair(images: RawImages, labels: Vec<u8>, ipath: &Path, lpath: &Path) -> Result<ImageSet> {
    if images.count != labels.len() {
        return Err(Error::Data {
            path: format!("{}, {}", ipath.display(), lpath.display()),
            message: format!("{} images but {} labels", images.count, labels.len()),
        });
    }
    Ok(ImageSet {
        pixels: images.pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        labels,
        channels: 1,
        height: images.height,
        width: images.width,
        classes: 10,
    })
}

/// Reads the digits CSV (64 pixel values 0..16, then the label), splits it with a fixed seed.
fn load_digits(path: &Path) -> Result<Splits> {
    let bytes = read_all(path)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Data {
        path: path.display().to_string(),
        message: "not UTF-8 text".into(),
    })?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| Error::Data {
            path: format!("{}:{}", path.display(), line_no + 1),
            message,
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            if line_no == 0 && fields.iter().any(|f| f.trim().parse::<f32>().is_err()) {
                continue; // a header row
            }
            return Err(bad(format!(
                "{} fields, expected 65 (64 pixels and a label)",
                fields.len()
            )));
        }
        for f in &fields[..64] {
            let v: f32 = f
                .trim()
                .parse()
                .map_err(|_| bad(format!("pixel '{f}' is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(bad(format!("pixel {v} outside 0..16")));
            }
            pixels.push(v / 16.0);
        }
        let label: u8 = fields[64]
            .trim()
            .parse()
            .ok()
            .filter(|l| *l < 10)
            .ok_or_else(|| bad(format!("label '{}' is not a digit 0..9", fields[64])))?;
        labels.push(label);
    }
    if labels.len() < 30 {
        return Err(Error::Data {
            path: path.display().to_string(),
            message: format!("only {} rows: too few to split", labels.len()),
        });
    }
    let all = ImageSet {
        pixels,
        labels,
        channels: 1,
        height: 8,
        width: 8,
        classes: 10,
    };
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
    let held = (all.len() / 6).min(300);
    let test = all.subset(&order[..held]);
    let valid = all.subset(&order[held..2 * held]);
    let train = all.subset(&order[2 * held..]);
    Ok(normalise(Splits { train, valid, test }))
}

/// Standardises every split with the training split's pixel mean and standard deviation.
fn normalise(mut splits: Splits) -> Splits {
    let n = splits.train.pixels.len().max(1) as f64;
    let mean = splits.train.pixels.iter().map(|&p| p as f64).sum::<f64>() / n;
    let var = splits
        .train
        .pixels
        .iter()
        .map(|&p| (p as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let (mean, std) = (mean as f32, (var.sqrt() as f32).max(1e-6));
    for set in [&mut splits.train, &mut splits.valid, &mut splits.test] {
        for p in &mut set.pixels {
            *p = (*p - mean) / std;
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    fn write_mnist_like(dir: &Path, images: usize, gz: bool) {
        let pix: Vec<u8> = (0..images * 4).map(|i| (i * 37 % 256) as u8).collect();
        let labels: Vec<u8> = (0..images).map(|i| (i % 10) as u8).collect();
        let write = |name: &str, bytes: Vec<u8>| {
            if gz {
                let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
                let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                std::io::Write::write_all(&mut enc, &bytes).unwrap();
                enc.finish().unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        };
        for set in ["train", "t10k"] {
            write(
                &format!("{set}-images-idx3-ubyte"),
                idx_bytes(&[images as u32, 2, 2], &pix),
            );
            write(
                &format!("{set}-labels-idx1-ubyte"),
                idx_bytes(&[images as u32], &labels),
            );
        }
    }

    #[test]
    fn reads_idx_files_raw_and_gzipped_into_fixed_splits() {
        let _serial = crate::test_serial();
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let sub = dir.path().join("fashion-mnist");
            std::fs::create_dir(&sub).unwrap();
            write_mnist_like(&sub, 60, gz);
            let splits = Dataset::FashionMnist.load(Some(dir.path())).unwrap();
            assert_eq!(splits.train.len(), 50);
            assert_eq!(splits.valid.len(), 10);
            assert_eq!(splits.test.len(), 60);
            assert_eq!((splits.train.height, splits.train.width), (2, 2));
            // validation is the tail of the training file: label of image 50 is 0
            assert_eq!(splits.valid.labels[0], 0);
            assert_eq!(splits.valid.labels[3], 3);
            let mean: f32 =
                splits.train.pixels.iter().sum::<f32>() / splits.train.pixels.len() as f32;
            assert!(
                mean.abs() < 1e-4,
                "training pixels are standardised: mean {mean}"
            );
        }
    }

    #[test]
    fn truncated_and_malformed_files_are_clear_errors() {
        let _serial = crate::test_serial();
        let dir = tempfile::tempdir().unwrap();
        write_mnist_like(dir.path(), 20, false);
        let images = dir.path().join("train-images-idx3-ubyte");
        let full = std::fs::read(&images).unwrap();
        std::fs::write(&images, &full[..full.len() - 7]).unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("promises 80 bytes"),
            "{err}"
        );
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");

        std::fs::write(&images, &full[..10]).unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shorter than the 16-byte IDX header"), "{err}");

        std::fs::write(&images, b"\x00\x00\x0d\x03 and more than sixteen bytes").unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an IDX file"), "{err}");

        // a gzip stream cut in the middle
        write_mnist_like(dir.path(), 20, true);
        std::fs::remove_file(&images).unwrap();
        let gz = dir.path().join("train-images-idx3-ubyte.gz");
        let bytes = std::fs::read(&gz).unwrap();
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip") || err.contains("truncated"), "{err}");

        // labels out of range and count mismatch
        write_mnist_like(dir.path(), 20, false);
        std::fs::remove_file(&gz).unwrap();
        let labels = dir.path().join("train-labels-idx1-ubyte");
        std::fs::write(&labels, idx_bytes(&[20], &[12; 20])).unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("label 12"), "{err}");
        std::fs::write(&labels, idx_bytes(&[19], &[1; 19])).unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("20 images but 19 labels"), "{err}");
    }

    #[test]
    fn a_missing_dataset_says_where_it_looked() {
        let _serial = crate::test_serial();
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::Mnist
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no mnist files found") && err.contains("--data-dir"),
            "{err}"
        );
        assert!(Dataset::parse("cifar").is_err());
    }

    #[test]
    fn digits_csv_rows_are_checked_and_split() {
        let _serial = crate::test_serial();
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..60 {
            let row: Vec<String> = (0..64).map(|j| ((i + j) % 17).to_string()).collect();
            text.push_str(&format!("{},{}\n", row.join(","), i % 10));
        }
        std::fs::write(dir.path().join("digits.csv"), &text).unwrap();
        let s = Dataset::Digits.load(Some(dir.path())).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (40, 10, 10));
        std::fs::write(dir.path().join("digits.csv"), format!("{text}1,2,3\n")).unwrap();
        let err = Dataset::Digits
            .load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":61") && err.contains("3 fields"), "{err}");
    }

    #[test]
    fn batches_hold_the_chosen_images() {
        let _serial = crate::test_serial();
        let set = ImageSet {
            pixels: (0..12).map(|x| x as f32).collect(),
            labels: vec![0, 1, 2],
            channels: 1,
            height: 2,
            width: 2,
            classes: 3,
        };
        let (x, y) = set.batch(&[2, 0], &Device::default());
        assert_eq!(x.dims(), [2, 1, 2, 2]);
        let xs: Vec<f32> = x.into_data().try_to_vec().unwrap();
        assert_eq!(&xs[..4], &[8.0, 9.0, 10.0, 11.0]);
        let ys: Vec<i32> = y.into_data().try_to_vec().unwrap();
        assert_eq!(ys, vec![2, 0]);
    }
}
