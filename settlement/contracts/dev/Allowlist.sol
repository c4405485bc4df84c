// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAllowlistHook} from "../IAllowlistHook.sol";

/// @notice A development allowlist hook: its deployer admits and removes holders.
contract Allowlist is IAllowlistHook {
    address public immutable keeper;
    mapping(address => bool) public isAllowed;

    error NotKeeper();

    constructor() {
        keeper = msg.sender;
    }

    function setAllowed(address account, bool allowed) external {
        if (msg.sender != keeper) revert NotKeeper();
        isAllowed[account] = allowed;
    }
}
