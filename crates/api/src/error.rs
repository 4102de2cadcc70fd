use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// CipherTrust's error body: `{"code", "codeDesc": "NCERR<Name>: <short text>", "message"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorBody {
    pub code: i32,
    #[serde(rename = "codeDesc")]
    pub code_desc: String,
    pub message: String,
}
