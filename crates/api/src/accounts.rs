//! Account details of an AWS connection (`POST /cckm/aws/accounts`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/cckm/aws/accounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AccountDetailsRequest {
    /// The AWS connection's id or name.
    pub connection: String,
    /// A role to assume for the calls (else the connection's own, if it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    /// The external id for `assume_role_arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
    /// Accepted for CipherTrust's clients; the details are always read from AWS, so the
    /// credentials are always checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<bool>,
}

/// The account the connection's credentials belong to, and the Regions it can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountDetails {
    /// The 12-digit AWS account id (STS GetCallerIdentity).
    pub account_id: String,
    /// The Regions enabled for the account, in AWS's order (EC2 DescribeRegions).
    pub regions: Vec<String>,
}
