use serde::{Deserialize, Serialize};

/// CipherTrust's error body: `{"code", "codeDesc": "NCERR<Name>: <short text>", "message"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: i32,
    #[serde(rename = "codeDesc")]
    pub code_desc: String,
    pub message: String,
}
