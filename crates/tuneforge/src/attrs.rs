//! Names of the system attributes tuneforge keeps on studies and trials, in one place.

/// Trial: parameters fixed before it ran (JSON object name → value).
pub const FIXED_PARAMS: &str = "fixed_params";
/// Trial: the exactly-once claim key it was created with (e.g. a grid point).
pub const CLAIM: &str = "claim";
/// Trial: the seed handed to the objective.
pub const SEED: &str = "seed";
/// Trial: the trial number this one re-runs.
pub const RETRY_OF: &str = "retry_of";
/// Trial: how many times its configuration has been re-run after its worker died.
pub const RETRIES: &str = "retries";
/// Trial: constraint values (a list; each ≤ 0 when satisfied), for constrained optimisation.
pub const CONSTRAINTS: &str = "constraints";
/// Trial: the resource it runs to (promotion-based schedules: its rung's budget).
pub const BUDGET: &str = "budget";
/// Trial: the number of the trial whose run it continues (its checkpoint directory).
pub const RESUME_FROM: &str = "resume_from";
/// Trial: the budget the trial it continues ran to (where its checkpoint stands).
pub const RESUME_BUDGET: &str = "resume_budget";
/// Trial: the running index of the Hyperband bracket it belongs to (promotion schedules).
pub const BRACKET: &str = "bracket";
/// Trial: the rung of its bracket it runs at, 0 for a new configuration.
pub const RUNG: &str = "rung";
/// Trial: the attributes that place it in a promotion schedule; a re-run of the trial keeps
/// them, so it runs what the trial was to run.
pub const SCHEDULE_PLACE: [&str; 5] = [BUDGET, RESUME_FROM, RESUME_BUDGET, BRACKET, RUNG];
/// Trial: true when it was stopped by an interruption (Ctrl-C) rather than by its own fault.
pub const INTERRUPTED: &str = "interrupted";
/// Trial: tail of the command's standard output.
pub const STDOUT_TAIL: &str = "stdout_tail";
/// Trial: tail of the command's standard error.
pub const STDERR_TAIL: &str = "stderr_tail";
/// Trial: the command line that ran.
pub const COMMAND: &str = "command";
/// Trial: exit code of the command.
pub const EXIT_CODE: &str = "exit_code";
/// Trial: per-trial working directory.
pub const WORKDIR: &str = "workdir";
/// Study: the study seed.
pub const STUDY_SEED: &str = "seed";
/// Study: the study file text it was created from.
pub const STUDY_FILE: &str = "study_file";
/// Study: the path of the study file it was created from.
pub const STUDY_FILE_PATH: &str = "study_file_path";
/// Study: the names of the objectives (metric names), one per direction.
pub const OBJECTIVE_NAMES: &str = "objective_names";
/// Trial: the identifier of the environment it ran in; the environment itself is the study
/// attribute `env:<id>`.
pub const ENV: &str = "env";
/// Study: prefix of the attributes holding the environments its trials ran in.
pub const ENV_PREFIX: &str = "env:";
/// Trial (re-evaluation studies): the number of the trial whose configuration it re-runs.
pub const REEVALUATES: &str = "reevaluates";
