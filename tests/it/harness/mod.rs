//! What every integration test uses: users and test directories, commands and their output,
//! image makers, other tools.

pub mod archive;
pub mod cmd;
pub mod figures;
pub mod images;
pub mod layer;
pub mod odd;
pub mod registry;
pub mod store;
pub mod table;
pub mod tools;
pub mod users;

pub use cmd::Cmd;
pub use users::{TestEnv, User, as_root, for_each_user, for_users, skip};
