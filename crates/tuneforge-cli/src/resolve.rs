//! Finds the study a command means: a study file path (with its storage) or a study name (in the
//! storage given by `--storage`, or `tuneforge.db` in the current directory).

use std::path::Path;
use std::sync::Arc;

use tuneforge::storage::{self, Storage};
use tuneforge::studyfile::{SamplerKind, StudyFile};
use tuneforge::{Error, GridSampler, RandomSampler, Result, Sampler, SobolSampler, Study};

/// A study argument, resolved.
pub struct Resolved {
    pub storage: Arc<dyn Storage>,
    pub name: String,
    pub file: Option<StudyFile>,
}

fn looks_like_file(arg: &str) -> bool {
    let p = Path::new(arg);
    p.is_file()
        || [".toml", ".json"].iter().any(|e| arg.ends_with(e))
        || arg.contains(std::path::MAIN_SEPARATOR)
}

/// The storage used when none is named and no study file says.
pub fn default_url() -> String {
    format!(
        "sqlite://{}",
        storage::default_sqlite_path(Path::new(".")).display()
    )
}

/// Opens the storage at `url`; a default SQLite file must already exist for read commands.
pub fn open(url: &str, must_exist: bool) -> Result<Arc<dyn Storage>> {
    if must_exist {
        require_existing(url)?;
    }
    storage::open(url)
}

/// Fails, saying so, when `url` names a SQLite file that does not exist (read commands must
/// not create an empty database).
pub fn require_existing(url: &str) -> Result<()> {
    if let Ok(storage::StorageUrl::Sqlite(p)) = storage::parse_url(url)
        && !p.exists()
    {
        return Err(Error::invalid(format!(
            "no database at {} (run a study first, or pass --storage URL)",
            p.display()
        )));
    }
    Ok(())
}

/// Resolves a study argument for commands that read an existing study.
pub fn existing(arg: &str, storage_flag: Option<&str>) -> Result<Resolved> {
    if looks_like_file(arg) {
        let file = StudyFile::load(Path::new(arg))?;
        let url = storage_flag
            .map(str::to_string)
            .unwrap_or_else(|| file.storage_url());
        let storage = open(&url, true)?;
        storage.load_study(&file.name)?;
        return Ok(Resolved {
            storage,
            name: file.name.clone(),
            file: Some(file),
        });
    }
    let url = storage_flag.map(str::to_string).unwrap_or_else(default_url);
    let storage = open(&url, true)?;
    let record = storage.load_study(arg)?;
    let file = StudyFile::of_record(&record);
    Ok(Resolved {
        storage,
        name: arg.to_string(),
        file,
    })
}

/// The canonical string of the architecture in `params`, when the study file declares one.
pub fn architecture_string(
    file: Option<&StudyFile>,
    params: &indexmap::IndexMap<String, tuneforge::ParamValue>,
) -> Option<String> {
    let space = file?.architecture.as_ref()?.build().ok()?;
    Some(space.format(&space.arch_of(params).ok()?))
}

/// The sampler a study file asks for.
pub fn sampler(file: &StudyFile, seed: u64) -> Result<Arc<dyn Sampler>> {
    Ok(match file.sampler {
        SamplerKind::Auto => Arc::new(tuneforge::sampler::AutoSampler::new(seed)),
        SamplerKind::Random => Arc::new(RandomSampler::new(seed)),
        SamplerKind::Sobol => Arc::new(SobolSampler::new(seed)),
        SamplerKind::Tpe => Arc::new(file.tpe_config().build(seed)),
        SamplerKind::CmaEs => Arc::new(tuneforge::sampler::CmaEsConfig::default().build(seed)),
        SamplerKind::Gp => Arc::new(tuneforge::sampler::GpConfig::default().build(seed)),
        SamplerKind::Rf => Arc::new(tuneforge::sampler::RfConfig::default().build(seed)),
        SamplerKind::Evolution => {
            Arc::new(tuneforge::sampler::EvolutionConfig::default().build(seed))
        }
        SamplerKind::Annealing => {
            Arc::new(tuneforge::sampler::AnnealingConfig::default().build(seed))
        }
        SamplerKind::Genetic => Arc::new(tuneforge::sampler::GeneticConfig::default().build(seed)),
        SamplerKind::Nsga2 => Arc::new(tuneforge::sampler::Nsga2Config::default().build(seed)),
        SamplerKind::Bohb => Arc::new(file.bohb_sampler(seed)?),
        SamplerKind::LocalSearch | SamplerKind::Reinforce => {
            let space = file
                .architecture
                .as_ref()
                .ok_or_else(|| Error::invalid("this sampler needs an [architecture]"))?
                .build()?;
            if file.sampler == SamplerKind::LocalSearch {
                Arc::new(tuneforge::sampler::LocalSearchSampler::new(space, 10, seed))
            } else {
                Arc::new(tuneforge::sampler::ReinforceSampler::new(
                    space,
                    tuneforge::sampler::ReinforceConfig::default(),
                    seed,
                ))
            }
        }
        SamplerKind::Grid => Arc::new(GridSampler::from_points(
            file.space.grid_points().map_err(|e| Error::StudyFile {
                path: file.path.clone(),
                message: e.to_string(),
            })?,
            seed,
        )?),
    })
}

/// Creates the study of a study file, or loads it when it exists (resuming). Returns the study
/// and whether it was created now. Baselines are enqueued once, at creation.
pub fn open_study(file: &StudyFile, storage: Arc<dyn Storage>) -> Result<(Study, bool)> {
    let existing = match storage.load_study(&file.name) {
        Ok(r) => Some(r),
        Err(Error::StudyNotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let seed = file
        .seed
        .or_else(|| {
            existing
                .as_ref()
                .and_then(|r| r.attrs.get(tuneforge::attrs::STUDY_SEED))
                .and_then(|v| v.as_u64())
        })
        .unwrap_or_else(tuneforge::seed::fresh_seed);
    if let Some(r) = &existing
        && r.directions != file.directions
    {
        return Err(Error::invalid(format!(
            "study '{}' already exists with directions {:?}, but {} declares {:?}",
            file.name,
            r.directions,
            file.path.display(),
            file.directions
        )));
    }
    let path = file
        .path
        .canonicalize()
        .unwrap_or_else(|_| file.path.clone());
    let mut builder = Study::builder(&file.name);
    if let Some(p) = &file.pruner {
        builder = builder.pruner_arc(p.build());
    }
    let mut chosen = sampler(file, seed)?;
    if let Some(p) = &file.pruner {
        chosen = p.scheduler(chosen);
    }
    let study = builder
        .directions(file.directions.clone())
        .storage(storage)
        .sampler_arc(chosen)
        .seed(seed)
        .liveness(file.liveness)
        .attr(tuneforge::attrs::STUDY_FILE, file.text.clone())
        .attr(
            tuneforge::attrs::STUDY_FILE_PATH,
            path.display().to_string(),
        )
        .attr(
            tuneforge::attrs::OBJECTIVE_NAMES,
            serde_json::json!(file.metrics),
        )
        .build()?;
    let created = existing.is_none();
    if created {
        for cfg in &file.enqueue {
            study.enqueue(cfg.clone())?;
        }
    }
    Ok((study, created))
}
