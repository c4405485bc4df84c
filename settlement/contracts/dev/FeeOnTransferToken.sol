// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevToken} from "./DevToken.sol";

/// @notice A development token that burns `feeBps` of every transfer out of the amount sent: the
///         receiver gets less than the sender parted with.
contract FeeOnTransferToken is DevToken {
    uint256 public immutable feeBps;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 feeBps_)
        DevToken(name_, symbol_, decimals_)
    {
        feeBps = feeBps_;
    }

    function _move(address from, address to, uint256 amount) internal override {
        uint256 fee = amount * feeBps / 10_000;
        super._move(from, to, amount);
        _burn(to, fee);
    }
}
