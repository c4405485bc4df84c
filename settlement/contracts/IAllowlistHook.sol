// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The per-asset gate of a permissioned token (a stock token whose issuer admits holders).
/// @dev The vault asks it before it credits the asset to an account by deposit or trade, and before
///      it pays the asset out in a batch withdrawal. It must be a pure view: the vault calls it with
///      STATICCALL, and a hook that reverts makes the whole call revert.
interface IAllowlistHook {
    /// @return allowed whether `account` may hold the asset.
    function isAllowed(address account) external view returns (bool allowed);
}
