// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The slice of ERC-20 the vault uses.
interface IERC20Like {
    function decimals() external view returns (uint8);
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @notice Token movements that measure what actually moved.
/// @dev Tokens that return nothing (pre-ERC-20-final) are accepted; a token that returns false,
///      reverts, or has no code fails with `TransferFailed`. Every movement is measured on the
///      vault's own balance, so the vault's books follow the token's, never the argument.
library TokenTransfers {
    error TransferFailed(address token);
    error TransferMismatch(address token, uint256 expected, uint256 moved);

    /// @notice Pulls up to `amount` from `from` into this contract.
    /// @return received what this contract's balance grew by: less than `amount` for a
    ///         fee-on-transfer token, never more than what the token says it holds for us.
    function pull(IERC20Like token, address from, uint256 amount) internal returns (uint256 received) {
        uint256 before = token.balanceOf(address(this));
        _call(token, abi.encodeCall(IERC20Like.transferFrom, (from, address(this), amount)));
        uint256 afterwards = token.balanceOf(address(this));
        // A balance that shrinks on a pull is a hostile token; checked arithmetic reverts.
        received = afterwards - before;
    }

    /// @notice Pays exactly `amount` of this contract's tokens to `to`.
    /// @dev Reverts with `TransferMismatch` unless this contract's balance fell by exactly `amount`,
    ///      which keeps `balanceOf(vault)` equal to the vault's ledger total.
    function push(IERC20Like token, address to, uint256 amount) internal {
        uint256 before = token.balanceOf(address(this));
        _call(token, abi.encodeCall(IERC20Like.transfer, (to, amount)));
        uint256 afterwards = token.balanceOf(address(this));
        if (afterwards > before || before - afterwards != amount) {
            revert TransferMismatch(address(token), amount, before > afterwards ? before - afterwards : 0);
        }
    }

    function _call(IERC20Like token, bytes memory data) private {
        if (address(token).code.length == 0) revert TransferFailed(address(token));
        (bool ok, bytes memory returned) = address(token).call(data);
        if (!ok) {
            if (returned.length == 0) revert TransferFailed(address(token));
            // Bubble the token's own reason (a reentrancy refusal, a pause) so callers can read it.
            assembly ("memory-safe") {
                revert(add(returned, 32), mload(returned))
            }
        }
        if (returned.length != 0 && (returned.length != 32 || abi.decode(returned, (uint256)) != 1)) {
            revert TransferFailed(address(token));
        }
    }
}
