// SPDX-License-Identifier: Apache-2.0
export const helper = (x: number): number => x * 21;
