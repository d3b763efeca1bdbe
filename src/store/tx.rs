//! Small helpers for sled transactions: our error through an abort, and records
//! encoded or decoded inside one.

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::records::{decode, encode, Versioned};
use crate::error::{Error, Result};

/// Turns a sled transaction outcome into ours.
pub(super) fn tx_result<T>(r: std::result::Result<T, TransactionError<Error>>) -> Result<T> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => Error::from(e),
    })
}

/// Aborts a transaction with our error.
pub(super) fn abort<T>(e: Error) -> std::result::Result<T, ConflictableTransactionError<Error>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Encodes inside a transaction.
pub(super) fn tx_encode<T: Versioned>(
    v: &T,
) -> std::result::Result<Vec<u8>, ConflictableTransactionError<Error>> {
    encode(v).map_err(ConflictableTransactionError::Abort)
}

/// Decodes inside a transaction.
pub(super) fn tx_decode<T: Versioned>(
    b: &[u8],
) -> std::result::Result<T, ConflictableTransactionError<Error>> {
    decode(b).map_err(ConflictableTransactionError::Abort)
}
