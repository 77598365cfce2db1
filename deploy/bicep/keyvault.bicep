// Key Vault with RBAC, purge protection and two non-exportable EC P-256 keys (Key Vault has no
// Ed25519): policy signs approved actions, audit signs checkpoints. Signers get "Crypto User" on
// their own key only; verifiers get "Reader" on the keys whose signatures they check (the public
// part only; they can never sign).
param location string
param vaultName string
param policyPrincipalId string
param auditPrincipalId string
param executorPrincipalId string

var cryptoUser = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '12338af0-0e69-4776-bea7-57ae8d297424')
var reader = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '21090545-7ca7-4776-b22c-e363652d74d2')

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
  }
}

resource actionKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'policy-action-signing'
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      exportable: false
    }
  }
}

resource checkpointKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'audit-checkpoint-signing'
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      exportable: false
    }
  }
}

resource policySigns 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(actionKey.id, policyPrincipalId, 'crypto-user')
  scope: actionKey
  properties: {
    roleDefinitionId: cryptoUser
    principalId: policyPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource auditSigns 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpointKey.id, auditPrincipalId, 'crypto-user')
  scope: checkpointKey
  properties: {
    roleDefinitionId: cryptoUser
    principalId: auditPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource executorVerifies 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(actionKey.id, executorPrincipalId, 'reader')
  scope: actionKey
  properties: {
    roleDefinitionId: reader
    principalId: executorPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output vaultUri string = vault.properties.vaultUri
output actionKeyName string = actionKey.name
output checkpointKeyName string = checkpointKey.name
