// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevToken} from "./DevToken.sol";

/// @notice A development token whose deployer can stop every transfer, as a stock token's issuer
///         can (a corporate action, a court order).
contract PausableToken is DevToken {
    address public immutable pauser;
    bool public paused;

    error TokenPaused();
    error NotPauser();

    constructor(string memory name_, string memory symbol_, uint8 decimals_) DevToken(name_, symbol_, decimals_) {
        pauser = msg.sender;
    }

    function setPaused(bool paused_) external {
        if (msg.sender != pauser) revert NotPauser();
        paused = paused_;
    }

    function _move(address from, address to, uint256 amount) internal override {
        if (paused) revert TokenPaused();
        super._move(from, to, amount);
    }
}
