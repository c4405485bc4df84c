// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {DevToken} from "../dev/DevToken.sol";

/// @notice A test token that misbehaves on purpose, one way at a time.
/// @dev REENTER: on each transfer, calls `target` with `callData` and reverts with the callee's
///      reason if that call fails (so a refused reentry surfaces as the vault's own error).
///      RETURN_FALSE: transfers report failure without moving anything.
///      SKIM: a transfer takes one extra unit from the sender.
contract HostileToken is DevToken {
    enum Mode {
        NONE,
        REENTER,
        RETURN_FALSE,
        SKIM
    }

    Mode public mode;
    address public target;
    bytes public callData;

    constructor() DevToken("Hostile", "HOST", 18) {}

    function arm(Mode mode_, address target_, bytes calldata callData_) external {
        mode = mode_;
        target = target_;
        callData = callData_;
    }

    function transfer(address to, uint256 amount) external override returns (bool) {
        if (mode == Mode.RETURN_FALSE) return false;
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external override returns (bool) {
        if (mode == Mode.RETURN_FALSE) return false;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal override {
        if (mode == Mode.REENTER) {
            (bool ok, bytes memory reason) = target.call(callData);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(reason, 32), mload(reason))
                }
            }
        }
        if (mode == Mode.SKIM) super._move(from, address(0xdead), 1);
        super._move(from, to, amount);
    }
}
